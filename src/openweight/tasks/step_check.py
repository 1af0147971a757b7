"""Checking the arithmetic a trace writes: in every 'left = right', the arithmetic just before '='
must equal the arithmetic just after ('17=7*2+3', '87+8: 7+8=15; 5'). What is not plain arithmetic
('3x - 9 = 12', 'Sorted: ...') is not checked."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

_ARITH = frozenset("0123456789+-*/(). \t\n\r\f\v")  # what plain arithmetic is written with


@dataclass(frozen=True)
class StepCheck:
    checked: int  # equalities whose two sides were both evaluated
    first_wrong: int | None  # character offset of the line holding the first false one


def _value(expression: str) -> int | float | None:
    expression = expression.strip().rstrip(".").strip()
    if "**" in expression:  # a power: not how traces write, and a model's '9**9**9' would never finish
        return None
    try:  # only digits, spaces, + - * / and parentheses reach here: nothing but arithmetic to evaluate
        with warnings.catch_warnings():  # '(2)(3)' compiles with a SyntaxWarning, then fails
            warnings.simplefilter("ignore", SyntaxWarning)
            value = eval(expression, {"__builtins__": {}}, {})  # noqa: S307
    except Exception:  # whatever a model writes: '()*3', '(2)(3)', '1/0', nesting too deep
        return None
    return value if type(value) in (int, float) else None


def _differ(left: int | float, right: int | float) -> bool:
    try:
        return abs(left - right) >= 1e-9
    except OverflowError:  # an integer too large for a float beside a float: they differ
        return True


def _tail(text: str) -> int | None:
    """Where the arithmetic that `text` ends with begins (it must hold a digit), scanning back."""
    start = len(text)
    while start and text[start - 1] in _ARITH:
        start -= 1
    return start if any(c.isdigit() for c in text[start:]) else None


def _head(text: str) -> str | None:
    """The arithmetic `text` begins with (it must hold a digit)."""
    end = 0
    while end < len(text) and text[end] in _ARITH:
        end += 1
    return text[:end] if any(c.isdigit() for c in text[:end]) else None


def check_steps(text: str) -> StepCheck:
    """Every arithmetic equality the text writes, checked, up to the first false one. Linear in the
    text's length (a backtracking pattern took seconds on a long line a model wrote)."""
    checked, offset = 0, 0
    for line in text.splitlines(keepends=True):
        pieces = line.split("=")
        for left, right in zip(pieces, pieces[1:]):
            start, after = _tail(left), _head(right)
            if start is None or after is None:
                continue
            before = left[:start].rstrip()
            if before[-1:].isalnum() and left[start:].strip()[:1] in "+-*/":
                continue  # the expression begins before what matched ('3x - 9'): not plain arithmetic
            lv, rv = _value(left[start:]), _value(after)
            if lv is None or rv is None:
                continue
            if _differ(lv, rv):
                return StepCheck(checked, offset)
            checked += 1
        offset += len(line)
    return StepCheck(checked, None)


def first_wrong_token(pieces: list[str], start: int = 0) -> int | None:
    """Where the first wrong step begins in a reply given as its tokens' texts: the index of the token
    holding the first character of that step's line, counted from token `start` (0 if the line begins
    before it); None when no step is wrong."""
    wrong = check_steps("".join(pieces)).first_wrong
    if wrong is None:
        return None
    end = 0
    for index, piece in enumerate(pieces):
        end += len(piece)
        if end > wrong:
            return max(0, index - start)
    return None
