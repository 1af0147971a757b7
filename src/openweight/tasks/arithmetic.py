"""Addition and subtraction of integers of up to `difficulty` digits."""

from __future__ import annotations

import random

from .base import Family, Problem, last_integer

FORMS = ("What is {a} {op} {b}?", "Compute {a} {op} {b}.", "{a} {op} {b} = ?", "Calculate {a} {op} {b}.")


def number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)


class AddSub(Family):
    """'What is 12345678 + 87654321?' / 'Compute 5003 - 4897.' -> the result; difficulty d: two d-digit numbers."""

    name = "add_sub"
    max_difficulty = 8

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a, b = number(rng, difficulty), number(rng, difficulty)
        op = rng.choice("+-")
        result = a + b if op == "+" else a - b
        prompt = rng.choice(FORMS).format(a=a, op=op, b=b)
        key = (min(a, b), op, max(a, b)) if op == "+" else (a, op, b)
        return Problem(self.name, prompt, str(result), (a, op, b), difficulty, key)

    def check(self, problem: Problem, reply: str) -> bool:
        return last_integer(reply) == int(problem.answer)


class Multiplication(Family):
    """'What is 123 * 456?' -> the product; difficulty d multiplies two d-digit numbers."""

    name = "multiplication"
    max_difficulty = 4
    FORMS = ("What is {a} * {b}?", "Compute {a} * {b}.", "Multiply {a} by {b}.", "{a} × {b} = ?")

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a, b = max(number(rng, difficulty), 2), max(number(rng, difficulty), 2)
        prompt = rng.choice(self.FORMS).format(a=a, b=b)
        return Problem(self.name, prompt, str(a * b), (a, b), difficulty, (min(a, b), max(a, b)))

    def check(self, problem: Problem, reply: str) -> bool:
        return last_integer(reply) == int(problem.answer)
