"""Verifiable reasoning tasks: generators with a held-out split, and exact checkers."""

from .arithmetic import AddSub, Multiplication
from .base import Family, Problem, is_held_out
from .countdown import Countdown
from .linear import Linear
from .sorting import Sorting


def families(unequal_operands: float = 0.0) -> dict[str, Family]:
    """Every family by name; in `unequal_operands` of the add_sub and multiplication problems one
    operand is shorter than the other (arithmetic.TwoOperands), else both have `difficulty` digits."""
    return {f.name: f for f in (AddSub(unequal_operands), Multiplication(unequal_operands), Linear(), Sorting(),
                                Countdown())}


FAMILIES: dict[str, Family] = families()

__all__ = ["FAMILIES", "Family", "Problem", "families", "is_held_out"]
