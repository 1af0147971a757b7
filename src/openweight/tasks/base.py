"""What every task family shares: problems, the held-out split, reading answers out of replies."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

HELD_OUT_PERCENT = 10
_INTEGER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?!\d)|-?\d+")  # "1,234" is one number, "1,2" two


@dataclass(frozen=True)
class Problem:
    family: str
    prompt: str
    answer: str  # the canonical answer, as the final channel should give it
    data: tuple  # the problem itself (operands, in the order stated), independent of its wording
    difficulty: int
    key: tuple  # the problem up to restatement: `data` with the order that does not matter taken out

    @property
    def held_out(self) -> bool:
        return is_held_out(self.family, self.key)


def is_held_out(family: str, key: tuple) -> bool:
    """About 10% of problems, chosen by a hash of the problem's key, are kept for evaluation. Hashing
    the key rather than the wording or the stated order keeps restatements on the same side:
    '12 * 34' is held out exactly when '34 * 12' is, and a list to sort whatever its order."""
    digest = hashlib.sha256(f"{family}:{key!r}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def integers(text: str) -> list[int]:
    """The integers in a text, accepting thousands separators ('1,234'; '12,34' is two numbers)."""
    out = []
    for token in _INTEGER.findall(text):
        digits = token.replace(",", "")
        if digits.strip("-"):
            out.append(int(digits))
    return out


def last_integer(text: str) -> int | None:
    found = integers(text)
    return found[-1] if found else None


class Family:
    """A family of verifiable problems. Subclasses define `name`, `max_difficulty`, `make` and `check`."""

    name: str
    max_difficulty: int
    variations: tuple[str, ...] = ()  # those of tasks.VARIATIONS that change this family's problems

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        raise NotImplementedError

    def check(self, problem: Problem, reply: str) -> bool:
        raise NotImplementedError

    def sample(self, rng: random.Random, difficulty: int | None = None, split: str = "train") -> Problem:
        """A problem of the given split ('train' never yields a held-out problem, 'test' only those)."""
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        while True:
            level = difficulty if difficulty is not None else rng.randint(1, self.max_difficulty)
            problem = self.make(rng, level)
            if problem.held_out == (split == "test"):
                return problem
