"""Addition, subtraction and multiplication of integers of up to `difficulty` digits."""

from __future__ import annotations

import random

from .base import Family, Problem, last_integer

FORMS = ("What is {a} {op} {b}?", "Compute {a} {op} {b}.", "{a} {op} {b} = ?", "Calculate {a} {op} {b}.")


def number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)


class TwoOperands(Family):
    """A family of two integers of `difficulty` digits each, or, in `unequal_share` of its problems
    (from 2 digits up), one of them shorter: 1 to difficulty - 1 digits, first or second at random."""

    def __init__(self, unequal_share: float = 0.0):
        if not 0 <= unequal_share <= 1:
            raise ValueError(f"unequal_share must be from 0 to 1, got {unequal_share!r}")
        self.unequal_share = unequal_share

    def operand_digits(self, rng: random.Random, difficulty: int) -> tuple[int, int]:
        # Nothing is drawn at a share of 0, so those problems are the ones an older generator made.
        if self.unequal_share and difficulty > 1 and rng.random() < self.unequal_share:
            short = rng.randint(1, difficulty - 1)
            return (difficulty, short) if rng.random() < 0.5 else (short, difficulty)
        return difficulty, difficulty


class AddSub(TwoOperands):
    """'What is 12345678 + 87654321?' / 'Compute 5003 - 4897.' -> the result; difficulty d: two d-digit
    numbers (TwoOperands: or one shorter)."""

    name = "add_sub"
    max_difficulty = 8

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a_digits, b_digits = self.operand_digits(rng, difficulty)
        a, b = number(rng, a_digits), number(rng, b_digits)
        op = rng.choice("+-")
        result = a + b if op == "+" else a - b
        prompt = rng.choice(FORMS).format(a=a, op=op, b=b)
        key = (min(a, b), op, max(a, b)) if op == "+" else (a, op, b)
        return Problem(self.name, prompt, str(result), (a, op, b), difficulty, key)

    def check(self, problem: Problem, reply: str) -> bool:
        return last_integer(reply) == int(problem.answer)


class Multiplication(TwoOperands):
    """'What is 123 * 456?' -> the product; difficulty d multiplies two d-digit numbers (TwoOperands:
    or a d-digit number and a shorter one)."""

    name = "multiplication"
    max_difficulty = 4
    FORMS = ("What is {a} * {b}?", "Compute {a} * {b}.", "Multiply {a} by {b}.", "{a} × {b} = ?")

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a_digits, b_digits = self.operand_digits(rng, difficulty)
        a, b = max(number(rng, a_digits), 2), max(number(rng, b_digits), 2)
        prompt = rng.choice(self.FORMS).format(a=a, b=b)
        return Problem(self.name, prompt, str(a * b), (a, b), difficulty, (min(a, b), max(a, b)))

    def check(self, problem: Problem, reply: str) -> bool:
        return last_integer(reply) == int(problem.answer)
