"""High-effort traces whose check is worked out in full and can find a slip (TraceForms.caught_slips,
caught_product_slips).

A share of them slip once: one line of the working is off by 1 or 2 and the lines after it go on
from it (steps.py). The check of that result finds the slip, says so (SLIP_FOUND), and the work is
done again and checked again. The slipped line is shown but not learnt: `checked_trace` returns
harmony content whose part holding it is marked {"learn": False}.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .base import Problem
from .linear import term
from .steps import (Slip, SlipRefused, add, difference, digit_root, divide_out, factors, isolate, long_product,
                    signed_sum)

SLIP_FOUND = ": a slip"  # how a checked trace says its check found a slip (then it works again)

Work = Callable[[Slip | None], tuple[list[str], int]]  # slip -> (lines, the result they write)
Lines = list[tuple[str, bool]]  # (text, learnt)


def add_sub_opening(a: int, op: str, b: int) -> str:
    return f"{a} {op} {b}, digit by digit from the right (result so far after ';'):"


def add_sub_work(a: int, op: str, b: int, slip: Slip | None = None) -> tuple[list[str], int]:
    return add(a, b, slip) if op == "+" else difference(a, b, slip)


def product_opening(a: int, b: int) -> str:
    top, by = factors(a, b)
    return f"{a} * {b}: multiply {top} by each digit of {by}, from the right, and add up."


def _add_sub(p: Problem, rng: random.Random, share: float) -> Lines:
    """Checked by the inverse operation: (a + b) - b gives a back, (a - b) + b gives a."""
    a, op, b = p.data
    return _checked([add_sub_opening(a, op, b)], lambda slip: add_sub_work(a, op, b, slip),
                    lambda result: _inverse_check(a, op, b, result), rng, share)


def _inverse_check(a: int, op: str, b: int, result: int) -> list[str]:
    """The result, the inverse operation worked out, and whether it gives a back. The result is not
    written 'a op b = result', which would be a false step where the work slipped."""
    inverse = "-" if op == "+" else "+"
    lines, back = signed_sum(result, -b if op == "+" else b)
    verdict = "as it should. Correct." if back == a else f"not {a}{SLIP_FOUND} above. Again, digit by digit:"
    return [f"So {a} {op} {b} comes to {result}.", f"Check: {result} {inverse} {b} should give {a}:", *lines,
            f"{result} {inverse} {b} = {back}, {verdict}"]


def _multiplication(p: Problem, rng: random.Random, share: float) -> Lines:
    """Checked by casting out nines: a slip of 1 or 2 in any line moves the product by 1 or 2 times a
    power of 10, which no multiple of 9 is, so the check always finds it."""
    a, b = p.data
    top, by = factors(a, b)
    return _checked([product_opening(a, b)], lambda slip: long_product(top, by, slip, says="gives"),
                    lambda product: _nines_check(a, b, product), rng, share)


def _nines_check(a: int, b: int, product: int) -> list[str]:
    """The product, then casting out nines: its digit root against that of the factors' roots' product."""
    (a_text, a_root), (b_text, b_root) = digit_root(a), digit_root(b)
    both = a_root * b_root
    both_text, expected = digit_root(both)
    got_text, got = digit_root(product)
    verdict = "agree. Correct." if got == expected else f"differ{SLIP_FOUND} above. Again, digit by digit:"
    return [f"So {a} * {b} comes to {product}.", "Check by nines, adding up digits until one is left:",
            a_text, b_text, f"{a_root}*{b_root}={both}" + (f", {both_text}" if both > 9 else ""), got_text,
            f"{got} and {expected} {verdict}"]


def _linear(p: Problem, rng: random.Random, share: float) -> Lines:
    """Checked by multiplying a times x back; a slip is one in the division."""
    a, b, c = p.data
    lines, rhs = isolate(a, b, c, restate=True)
    if abs(a) == 1:  # nothing to divide
        x = rhs * a
        return [(line, True) for line in [*lines, f"x = {x}", f"Check: {term(a)} with x = {x} is {rhs}. Correct."]]
    return _checked(lines, lambda slip: divide_out(a, rhs, slip, says="comes to"),
                    lambda x: _product_check(a, x, rhs), rng, share)


def _product_check(a: int, x: int, rhs: int) -> list[str]:
    """a * x multiplied out (sizes first, then the sign), and whether it gives rhs."""
    top, by = factors(abs(a), abs(x))
    steps, size = long_product(top, by) if abs(x) > 1 else ([], abs(a) * abs(x))
    value = size if (a > 0) == (x >= 0) else -size
    verdict = "as it should. Correct." if value == rhs else f"not {rhs}{SLIP_FOUND} in the division. Again:"
    return [f"Check: {a} * {x} should be {rhs}:", *steps, f"{a} * {x} = {value}, {verdict}"]


# The families with a checked form, and the TraceForms field giving the share of their traces that slip.
CHECKED = {"add_sub": (_add_sub, "caught_slips"), "linear": (_linear, "caught_slips"),
           "multiplication": (_multiplication, "caught_product_slips")}


def _checked(opening: list[str], work: Work, check: Callable[[int], list[str]], rng: random.Random,
             share: float) -> Lines:
    """The opening, then the work and the check of its result; in `share` of the traces the work first
    slips once (its slipped line not learnt), the check finds it, and the work is done again."""
    out = [(line, True) for line in opening]
    if share and rng.random() < share:  # nothing drawn at 0: the same problems follow as without the key
        lines, wrong, at = _slipping(work, rng)
        out += [(line, i != at) for i, line in enumerate(lines)] + [(line, True) for line in check(wrong)]
    lines, result = work(None)
    return out + [(line, True) for line in [*lines, *check(result)]]


def _slipping(work: Work, rng: random.Random) -> tuple[list[str], int, int]:
    """The work's lines with one slip at a random line, the slipped result, and the index of the line
    that slipped."""
    right, value = work(None)
    while True:
        try:
            lines, slipped = work((rng.randrange(len(right)), rng.choice((-2, -1, 1, 2))))
        except SlipRefused:
            continue
        if slipped != value:  # a slip on a line that computes nothing (a heading, a comparison) has no effect
            wrong = next(i for i, (x, y) in enumerate(zip(lines, right)) if x != y)
            return lines, slipped, wrong


def checked_trace(problem: Problem, rng: random.Random, share: float) -> str | list[dict]:
    """The analysis content of a checked high-effort trace (a family of CHECKED): its text, or where
    it slips, text parts with the slipped line's {"learn": False}."""
    return _content(CHECKED[problem.family][0](problem, rng, share))


def _content(lines: Lines) -> str | list[dict]:
    """Lines (text, learnt) as message content: one string if all are learnt, else text parts, each
    run of lines alike in being learnt one part ending in its newline, so that no token spans two."""
    if all(learnt for _, learnt in lines):
        return "\n".join(text for text, _ in lines)
    parts: list[dict] = []
    for i, (text, learnt) in enumerate(lines):
        text += "\n" if i < len(lines) - 1 else ""
        if parts and parts[-1].get("learn", True) == learnt:
            parts[-1]["text"] += text
        else:
            parts.append({"type": "text", "text": text} if learnt else {"type": "text", "text": text, "learn": False})
    return parts
