"""Addition, subtraction and multiplication of integers of up to `difficulty` digits."""

from __future__ import annotations

import random

from .base import Family, Problem, last_integer


def number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits - 1)


class TwoOperands(Family):
    """A family of two integers of `difficulty` digits each, or, in `unequal_share` of its problems
    (from 2 digits up), one of them shorter: 1 to difficulty - 1 digits, first or second at random.
    In `everyday_share` of its problems the prompt takes an everyday form (EVERYDAY_FORMS) instead of
    one of FORMS; both are keyed by the operator."""

    FORMS: dict[str, tuple[str, ...]]
    EVERYDAY_FORMS: dict[str, tuple[str, ...]]
    variations = ("unequal_operands", "everyday_forms")  # the two shares, as a recipe and eval name them

    def __init__(self, unequal_share: float = 0.0, everyday_share: float = 0.0):
        for name, share in (("unequal_share", unequal_share), ("everyday_share", everyday_share)):
            if not 0 <= share <= 1:
                raise ValueError(f"{name} must be from 0 to 1, got {share!r}")
        self.unequal_share = unequal_share
        self.everyday_share = everyday_share

    def operand_digits(self, rng: random.Random, difficulty: int) -> tuple[int, int]:
        # Nothing is drawn at a share of 0, so those problems are the ones an older generator made.
        if self.unequal_share and difficulty > 1 and rng.random() < self.unequal_share:
            short = rng.randint(1, difficulty - 1)
            return (difficulty, short) if rng.random() < 0.5 else (short, difficulty)
        return difficulty, difficulty

    def prompt(self, rng: random.Random, a: int, op: str, b: int) -> str:
        # As above: no draw at a share of 0.
        everyday = self.everyday_share and rng.random() < self.everyday_share
        return rng.choice((self.EVERYDAY_FORMS if everyday else self.FORMS)[op]).format(a=a, op=op, b=b)

    def check(self, problem: Problem, reply: str) -> bool:
        return last_integer(reply) == int(problem.answer)


class AddSub(TwoOperands):
    """'What is 12345678 + 87654321?' / 'Compute 5003 - 4897.' -> the result; difficulty d: two d-digit
    numbers (TwoOperands: or one shorter)."""

    name = "add_sub"
    max_difficulty = 8
    _SIGNED = ("What is {a} {op} {b}?", "Compute {a} {op} {b}.", "{a} {op} {b} = ?", "Calculate {a} {op} {b}.")
    FORMS = {"+": _SIGNED, "-": _SIGNED}
    # How people type a sum when nobody tells them how: no spaces, the sign in words, lower case, no '?'.
    EVERYDAY_FORMS = {
        "+": ("{a}+{b}", "{a}+{b}=", "what is {a}+{b}", "What's {a} plus {b}?", "How much is {a} plus {b}?",
              "{a} plus {b}", "Add {a} and {b}.", "What is the sum of {a} and {b}?"),
        "-": ("{a}-{b}", "{a}-{b}=", "what is {a}-{b}", "What's {a} minus {b}?", "How much is {a} minus {b}?",
              "{a} minus {b}", "Subtract {b} from {a}.", "What is {a} take away {b}?"),
    }

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a_digits, b_digits = self.operand_digits(rng, difficulty)
        a, b = number(rng, a_digits), number(rng, b_digits)
        op = rng.choice("+-")
        result = a + b if op == "+" else a - b
        key = (min(a, b), op, max(a, b)) if op == "+" else (a, op, b)
        return Problem(self.name, self.prompt(rng, a, op, b), str(result), (a, op, b), difficulty, key)


class Multiplication(TwoOperands):
    """'What is 123 * 456?' -> the product; difficulty d multiplies two d-digit numbers (TwoOperands:
    or a d-digit number and a shorter one)."""

    name = "multiplication"
    max_difficulty = 4
    FORMS = {"*": ("What is {a} * {b}?", "Compute {a} * {b}.", "Multiply {a} by {b}.", "{a} × {b} = ?")}
    EVERYDAY_FORMS = {"*": ("{a}*{b}", "{a}*{b}=", "{a}x{b}", "{a} x {b}", "what is {a}*{b}", "What's {a} times {b}?",
                            "How much is {a} times {b}?", "{a} times {b}", "What is the product of {a} and {b}?")}

    def make(self, rng: random.Random, difficulty: int) -> Problem:
        a_digits, b_digits = self.operand_digits(rng, difficulty)
        a, b = max(number(rng, a_digits), 2), max(number(rng, b_digits), 2)
        return Problem(self.name, self.prompt(rng, a, "*", b), str(a * b), (a, b), difficulty, (min(a, b), max(a, b)))
