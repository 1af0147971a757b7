"""Checking the arithmetic a trace writes: in every 'left = right', the arithmetic just before '='
must equal the arithmetic just after ('17=7*2+3', '87+8: 7+8=15; 5'). What is not plain arithmetic
('3x - 9 = 12', 'Sorted: ...') is not checked."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARITH = r"[-\d\s+*/().]*\d[-\d\s+*/().]*"
_LEFT, _RIGHT = re.compile(f"({_ARITH})$"), re.compile(f"^({_ARITH})")


@dataclass(frozen=True)
class StepCheck:
    checked: int  # equalities whose two sides were both evaluated
    first_wrong: int | None  # character offset of the line holding the first false one


def _value(expression: str) -> float | None:
    expression = expression.strip().rstrip(".").strip()
    if "**" in expression:  # a power: not how traces write, and a model's '9**9**9' would never finish
        return None
    try:  # only digits, spaces, + - * / and parentheses reach here: nothing but arithmetic to evaluate
        return eval(expression, {"__builtins__": {}}, {})  # noqa: S307
    except (SyntaxError, ZeroDivisionError, MemoryError, RecursionError, OverflowError):
        return None


def check_steps(text: str) -> StepCheck:
    """Every arithmetic equality the text writes, checked, up to the first false one."""
    checked, offset = 0, 0
    for line in text.splitlines(keepends=True):
        pieces = line.split("=")
        for left, right in zip(pieces, pieces[1:]):
            lm, rm = _LEFT.search(left), _RIGHT.search(right)
            if not lm or not rm:
                continue
            before = left[:lm.start()].rstrip()
            if before[-1:].isalnum() and lm.group(1).strip()[:1] in "+-*/":
                continue  # the expression begins before what matched ('3x - 9'): not plain arithmetic
            lv, rv = _value(lm.group(1)), _value(rm.group(1))
            if lv is None or rv is None:
                continue
            if abs(lv - rv) >= 1e-9:
                return StepCheck(checked, offset)
            checked += 1
        offset += len(line)
    return StepCheck(checked, None)
