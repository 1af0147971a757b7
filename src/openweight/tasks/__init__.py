"""Verifiable reasoning tasks: generators with a held-out split, and exact checkers."""

from .arithmetic import AddSub, Multiplication, TwoOperands
from .base import Family, Problem, is_held_out
from .countdown import Countdown
from .linear import Linear
from .sorting import Sorting


# Ways to vary the add_sub and multiplication problems, each given as the share of problems it applies to.
VARIATIONS = TwoOperands.variations


def families(unequal_operands: float = 0.0, everyday_forms: float = 0.0) -> dict[str, Family]:
    """Every family by name. In `unequal_operands` of the add_sub and multiplication problems one
    operand is shorter than the other, else both have `difficulty` digits; in `everyday_forms` of them
    the prompt is written as people type it ('12+7', 'What's 25 times 40?'; arithmetic.TwoOperands)."""
    arithmetic = [family(unequal_operands, everyday_forms) for family in (AddSub, Multiplication)]
    return {f.name: f for f in (*arithmetic, Linear(), Sorting(), Countdown())}


FAMILIES: dict[str, Family] = families()

__all__ = ["FAMILIES", "VARIATIONS", "Family", "Problem", "families", "is_held_out"]
