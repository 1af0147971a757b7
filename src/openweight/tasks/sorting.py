"""Sorting a list of integers: 'Sort these numbers in ascending order: 5, 3, 9, 1.'"""

from __future__ import annotations

import random
import re

from .base import Family, Problem

_LISTED = re.compile(r"-?\d+")  # a list's numbers are below 1000: every comma separates two of them


class Sorting(Family):
    """difficulty d: 3 + d numbers (4 to 7) of up to min(d + 1, 3) digits, ascending or descending."""

    name = "sorting"
    max_difficulty = 4

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        count, top = 3 + difficulty, 10 ** min(difficulty + 1, 3)
        numbers = [rng.randint(0, top - 1) for _ in range(count)]
        order = rng.choice(("ascending", "descending"))
        listed = ", ".join(map(str, numbers))
        prompt = rng.choice(("Sort these numbers in {o} order: {n}.", "Sort in {o} order: {n}",
                             "Put {n} in {o} order.")).format(o=order, n=listed)
        answer = sorted(numbers, reverse=order == "descending")
        return Problem(self.name, prompt, ", ".join(map(str, answer)), (tuple(numbers), order), difficulty,
                       (tuple(sorted(numbers)), order))

    def check(self, problem: Problem, reply: str) -> bool:
        return [int(n) for n in _LISTED.findall(reply)] == [int(n) for n in problem.answer.split(", ")]
