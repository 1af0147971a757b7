"""Countdown: reach a target from given numbers with + - * /, each number at most once.

The reply's answer is an expression ('(25 - 7) * 3 + 50'); a trailing '= 104' is allowed.
"""

from __future__ import annotations

import ast
import random
from fractions import Fraction

from .base import Family, Problem

SMALL = list(range(1, 11))
LARGE = [25, 50, 75, 100]
_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b}


def evaluate(expression: str) -> tuple[Fraction, list[int]] | None:
    """(exact value, numbers used) of an arithmetic expression of decimal integers, or None if it is
    not one (nested too deep to parse included)."""
    text = expression.replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    used: list[int] = []

    def walk(node) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ZeroDivisionError
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.Constant) and type(node.value) is int \
                and ast.get_source_segment(text, node).isdecimal():  # 25, not 0x19 or 2_5
            used.append(node.value)
            return Fraction(node.value)
        raise ValueError("not + - * / on integers")

    try:
        return walk(tree), used
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


def combine(rng: random.Random, values: list[tuple[int, str]]) -> tuple[int, str]:
    """Fold numbers into one exact, positive result with random operations."""
    while len(values) > 1:
        (a, ea), (b, eb) = values.pop(rng.randrange(len(values))), values.pop(rng.randrange(len(values)))
        if a < b:
            (a, ea), (b, eb) = (b, eb), (a, ea)
        options = [(a + b, f"{ea} + {eb}"), (a * b, f"{ea} * {eb}")]
        if a > b:
            options.append((a - b, f"{ea} - {eb}"))
        if b > 1 and a % b == 0:
            options.append((a // b, f"{ea} / {eb}"))
        value, text = rng.choice(options)
        values.append((value, f"({text})"))
    return values[0]


class Countdown(Family):
    """difficulty d: d + 2 numbers (so 4 at difficulty 2), a target reachable with some of them."""

    name = "countdown"
    max_difficulty = 3

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        count = difficulty + 2
        while True:
            numbers = [rng.choice(LARGE) if rng.random() < 0.25 else rng.choice(SMALL) for _ in range(count)]
            chosen = rng.sample(numbers, rng.randint(2, count))
            target, expression = combine(rng, [(n, str(n)) for n in chosen])
            if 10 <= target <= 999 and target not in numbers:
                break
        expression = expression[1:-1] if expression.startswith("(") else expression
        listed = ", ".join(map(str, numbers))
        prompt = (f"Use the numbers {listed} to make {target}. "
                  "Use + - * / and each number at most once.")
        return Problem(self.name, prompt, expression, (tuple(numbers), target), difficulty,
                       (tuple(sorted(numbers)), target))

    def check(self, problem: Problem, reply: str) -> bool:
        numbers, target = problem.data
        lines = [line for line in reply.strip().splitlines() if line.strip()]
        if not lines:
            return False
        expression = lines[-1].split("=")[0]
        result = evaluate(expression)
        if result is None:
            return False
        value, used = result
        available = list(numbers)
        for n in used:
            if n not in available:
                return False
            available.remove(n)
        return value == target
