"""Linear equations with an integer solution: 'Solve for x: 7x - 12 = 44'."""

from __future__ import annotations

import random

from .base import Family, Problem, last_integer


def term(a: int) -> str:
    """a times x as written: 'x', '-x', '7x'."""
    return "x" if a == 1 else "-x" if a == -1 else f"{a}x"


class Linear(Family):
    """a x + b = c with integer x; at difficulty d, x and b are up to 10**d in size and a up to 20."""

    name = "linear"
    max_difficulty = 3

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        scale = 10 ** difficulty
        a = rng.choice([n for n in range(-min(scale, 20), min(scale, 20) + 1) if n != 0])
        x = rng.randint(-scale, scale)
        b = rng.randint(-scale, scale)
        c = a * x + b
        side = term(a) + ("" if b == 0 else f" + {b}" if b > 0 else f" - {-b}")
        equation = f"{side} = {c}" if rng.random() < 0.8 else f"{c} = {side}"
        prompt = rng.choice(("Solve for x: {e}", "Find x if {e}.", "{e}. What is x?")).format(e=equation)
        return Problem(self.name, prompt, f"x = {x}", (a, b, c), difficulty, (a, b, c))

    def check(self, problem: Problem, reply: str) -> bool:
        a, b, c = problem.data
        x = last_integer(reply)
        return x is not None and a * x + b == c
