"""Verifiable reasoning tasks: generators with a held-out split, and exact checkers."""

from .arithmetic import AddSub, Multiplication
from .base import Family, Problem, is_held_out
from .countdown import Countdown
from .linear import Linear
from .sorting import Sorting

FAMILIES: dict[str, Family] = {f.name: f for f in (AddSub(), Multiplication(), Linear(), Sorting(), Countdown())}

__all__ = ["FAMILIES", "Family", "Problem", "is_held_out"]
