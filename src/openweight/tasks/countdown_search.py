"""A Countdown search a small model can carry out, written one try a line.

1. Every pair of numbers, combined every way that keeps a positive whole number:
   `3,7: 3+7=10, 3*7=21, 7-3=4`. A result equal to the target ends the search.
2. One number used last: for each number c, the values the other two would have to make
   (`150-25=125`, `150+25=175`, `150/25=6`), each looked up among the pair results without c.
3. Two pairs (four numbers): for each split into two pairs and each result r of the first pair, the
   value the second pair would have to make, looked up the same way.

This finds every solution of the forms a∘b, (a∘b)∘c and (a∘b)∘(c∘d); one of the form ((a∘b)∘c)∘d
alone is not found, and the trace then says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class Value:
    number: int
    text: str  # how it was made: '3+7', or the number itself
    used: frozenset[int]  # positions of the given numbers it uses


def combine(x: Value, y: Value) -> list[Value]:
    """x∘y for + * - / where the result is a positive whole number; larger operand first."""
    if x.number < y.number:
        x, y = y, x
    used, a, b = x.used | y.used, x.number, y.number
    out = [Value(a + b, f"{_wrap(x)}+{_wrap(y)}", used), Value(a * b, f"{_wrap(x)}*{_wrap(y)}", used)]
    if a > b:
        out.append(Value(a - b, f"{_wrap(x)}-{_wrap(y)}", used))
    if b > 1 and a % b == 0:
        out.append(Value(a // b, f"{_wrap(x)}/{_wrap(y)}", used))
    return out


def _wrap(v: Value) -> str:
    return f"({v.text})" if len(v.used) > 1 else v.text


def _needs(target: int, c: int) -> list[tuple[int, str, str]]:
    """(value s, 'how s comes from the target', 'how the target comes from s'): s∘c = target."""
    out = [(target - c, f"{target}-{c}", "{s}+%d" % c)] if target > c else []
    out.append((target + c, f"{target}+{c}", "{s}-%d" % c))
    if target % c == 0 and c > 1:
        out.append((target // c, f"{target}/{c}", "{s}*%d" % c))
    if c > 1:
        out.append((target * c, f"{target}*{c}", "{s}/%d" % c))
    if c > target:
        out.append((c - target, f"{c}-{target}", "%d-{s}" % c))
    if c > target and c % target == 0:
        out.append((c // target, f"{c}/{target}", "%d/{s}" % c))
    return out


def search(numbers: list[int], target: int) -> tuple[list[str], str | None]:
    """(trace lines, an expression for the target or None if this search finds none)."""
    singles = [Value(n, str(n), frozenset([i])) for i, n in enumerate(numbers)]
    lines, pairs = [], []
    for x, y in combinations(singles, 2):
        made = combine(x, y)
        pairs += made
        lines.append(f"{x.number},{y.number}: " + ", ".join(f"{v.text}={v.number}" for v in made))
        for v in made:
            if v.number == target:
                return lines + [f"{v.text}={target}. Found it."], v.text

    def lookup(value: int, without: frozenset[int]) -> Value | None:
        return next((v for v in pairs if v.number == value and not v.used & without), None)

    for c in singles:
        if len(numbers) < 3:
            break
        tries = []
        for s, how, back in _needs(target, c.number):
            hit = lookup(s, c.used)
            if hit is None:
                tries.append(f"{how}={s} no")
                continue
            expression = back.format(s=f"({hit.text})")
            lines.append(f"{c.number} last: " + "; ".join(tries + [f"{how}={s} is {hit.text}"]))
            return lines + [f"{expression}={target}. Found it."], expression
        lines.append(f"{c.number} last: " + "; ".join(tries))

    for first, second in _splits(singles):
        tries = []
        for r in (v for v in pairs if v.used == first):
            for s, how, back in _needs(target, r.number):
                hit = next((v for v in pairs if v.number == s and v.used == second), None)
                if hit is None:
                    tries.append(f"{how}={s} no")
                    continue
                expression = back.replace("%d" % r.number, f"({r.text})", 1).format(s=f"({hit.text})")
                lines.append("; ".join(tries + [f"{how}={s} is {hit.text}"]))
                return lines + [f"{expression}={target}. Found it."], expression
        if tries:
            lines.append("; ".join(tries))
    return lines + ["None of these make it."], None


def _splits(singles: list[Value]) -> list[tuple[frozenset[int], frozenset[int]]]:
    """Ways to split four of the numbers into two pairs (positions)."""
    out = []
    for four in combinations(range(len(singles)), 4):
        a, b, c, d = four
        out += [(frozenset([a, b]), frozenset([c, d])), (frozenset([a, c]), frozenset([b, d])),
                (frozenset([a, d]), frozenset([b, c]))]
    return out
