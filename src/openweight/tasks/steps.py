"""Written-out arithmetic a small model can follow: one digit per line, each line built from the last.

A line restates what is left of the operands, so the digit it works on always sits right before an
operator or a colon, and it ends with the digits of the result found so far:

    457+38: 7+8=15; 5        the last digits of 457 and 38; result so far 5, carry 1 to the next line
    45+3 c1: 5+3+1=9; 95
    4+0: 4+0=4; 495

A model that only has to look at the line above never has to count positions inside a long number,
which is what a few-million-parameter transformer gets wrong. The same layout serves addition,
subtraction (with borrows), multiplication by a digit and long division.

Longer working is built from these: a difference of any two numbers, a sum of signed ones, a
long product, digit roots, and an equation a x + b = c solved for x.

With `slip=(line, off)` they write a slip as a model makes one, for traces that catch it: that line's
result is off by `off` (by -off where `off` would take it out of range), the lines after it go on
from it, and the result returned is the one written.
"""

from __future__ import annotations

from .linear import term

Slip = tuple[int, int]  # (line, off): the line of a working whose result is off by `off`


class SlipRefused(ValueError):
    """A slip no written work could make (a subtraction left borrowing past its top digit)."""


def _rest(digits: str) -> str:
    """What is left of a number once its last digit is used ('' when none)."""
    return digits[:-1]


def _slipped(value: int, line: int, slip: Slip | None, low: int, high: int) -> int:
    """`value`, or on the slip's line value + off (value - off if that leaves low..high)."""
    if slip is None or slip[0] != line:
        return value
    return value + slip[1] if low <= value + slip[1] <= high else value - slip[1]


def add(a: int, b: int, slip: Slip | None = None) -> tuple[list[str], int]:
    """Lines adding two non-negative integers from the right, and the sum."""
    xs, ys, carry, so_far, lines = str(a), str(b), 0, "", []
    while xs or ys:
        x, y = int(xs[-1]) if xs else 0, int(ys[-1]) if ys else 0
        total = _slipped(x + y + carry, len(lines), slip, 0, 19)
        last = len(xs) <= 1 and len(ys) <= 1
        so_far = (str(total) if last else str(total % 10)) + so_far
        lines.append(f"{xs or 0}+{ys or 0}{f' c{carry}' if carry else ''}: {x}+{y}{f'+{carry}' if carry else ''}"
                     f"={total}; {so_far}")
        carry, xs, ys = total // 10, _rest(xs), _rest(ys)
    return lines, int(so_far)


def subtract(a: int, b: int, slip: Slip | None = None) -> tuple[list[str], int]:
    """Lines subtracting b from a (a >= b >= 0) from the right with borrows, and the difference (a
    slip on the last line keeps it >= 0; SlipRefused for one that leaves the last line a borrow it
    cannot pay)."""
    if not a >= b >= 0:
        raise ValueError(f"subtract needs a >= b >= 0, got {a} and {b}")
    xs, ys, borrow, so_far, lines = str(a), str(b), 0, "", []
    while xs:
        x, y = int(xs[-1]), int(ys[-1]) if ys else 0
        expr = f"{x}-{y}{f'-{borrow}' if borrow else ''}"
        value = _slipped(x - y - borrow, len(lines), slip, 0 if len(xs) == 1 else -10, 9)
        head = f"{xs}-{ys or 0}{f' b{borrow}' if borrow else ''}: "
        if value < 0:
            so_far = str(value + 10) + so_far
            lines.append(f"{head}{expr}<0, 1{expr}={value + 10}; {so_far}")
        else:
            so_far = str(value) + so_far
            lines.append(f"{head}{expr}={value}; {so_far}")
        borrow, xs, ys = int(value < 0), _rest(xs), _rest(ys)
    if borrow:
        raise SlipRefused(f"slip {slip} leaves {a} - {b} a borrow past its first digit")
    return lines, int(so_far)


def compare(a: int, b: int) -> str:
    """Which of two non-negative integers is larger, read from the left one digit at a time:
    '45231 vs 45198: 4=4; 5231 vs 5198: 5=5; 231 vs 198: 2>1, so 45231>45198'."""
    if a < 0 or b < 0:
        raise ValueError(f"compare needs a, b >= 0, got {a} and {b}")
    xs, ys = str(a), str(b)
    sign = "<" if a < b else ">" if a > b else "="
    if len(xs) != len(ys):
        return f"{xs} vs {ys}: {len(xs)} digits vs {len(ys)}, so {xs}{sign}{ys}"
    parts = []
    while xs:
        x, y = xs[0], ys[0]
        if x != y or len(xs) == 1:
            parts.append(f"{xs} vs {ys}: {x}{'<' if x < y else '>' if x > y else '='}{y}")
            break
        parts.append(f"{xs} vs {ys}: {x}={y}")
        xs, ys = xs[1:], ys[1:]
    return "; ".join(parts) + f", so {a}{sign}{b}"


def multiply_digit(a: int, d: int, slip: Slip | None = None) -> tuple[list[str], int]:
    """Lines multiplying a non-negative integer by one digit from the right, and the product."""
    xs, carry, so_far, lines = str(a), 0, "", []
    while xs:
        x = int(xs[-1])
        total = _slipped(x * d + carry, len(lines), slip, 0, 89)
        so_far = (str(total) if len(xs) == 1 else str(total % 10)) + so_far
        lines.append(f"{xs}*{d}{f' c{carry}' if carry else ''}: {x}*{d}{f'+{carry}' if carry else ''}"
                     f"={total}; {so_far}")
        carry, xs = total // 10, _rest(xs)
    return lines, int(so_far)


def divide(n: int, d: int, slip: Slip | None = None) -> tuple[list[str], int, int]:
    """Lines of long division of n >= 0 by d > 0 from the left, the quotient and the remainder.

    Each line takes the next digit after the remainder so far: '90 r18: 189=21*9+0; 009' reads
    'digits left 90, remainder 18: 189 is 21*9 + 0, quotient so far 009'. A slip writes a wrong
    quotient digit with the right remainder.
    """
    if n < 0 or d <= 0:
        raise ValueError(f"divide needs n >= 0 and d > 0, got {n} and {d}")
    digits, remainder, quotient, lines = str(n), 0, "", []
    while digits:
        current = remainder * 10 + int(digits[0])
        q, remainder_next = divmod(current, d)
        q = _slipped(q, len(lines), slip, 0, 9)
        quotient += str(q)
        lines.append(f"{digits} r{remainder}: {current}={d}*{q}+{remainder_next}; {quotient}")
        remainder, digits = remainder_next, digits[1:]
    return lines, int(quotient), remainder


def difference(a: int, b: int, slip: Slip | None = None) -> tuple[list[str], int]:
    """Lines computing a - b for non-negative a and b: which is larger first, then the subtraction."""
    if a >= b:
        lines, value = subtract(a, b, slip)
        return [compare(a, b), *lines], value
    lines, value = subtract(b, a, slip)
    return [compare(a, b), f"so {a}-{b} is -({b}-{a}):", *lines], -value


def signed(n: int) -> str:
    """'+ 9' or '- 9', to follow another term."""
    return f"+ {n}" if n >= 0 else f"- {-n}"


def signed_sum(p: int, q: int) -> tuple[list[str], int]:
    """Lines computing p + q for integers of any sign, by adding or subtracting the sizes."""
    if p >= 0 and q >= 0:
        return add(p, q)
    if p < 0 and q < 0:
        lines, total = add(-p, -q)
        return [f"Both negative: add {-p} and {-q}, then negate.", *lines], -total
    positive, negative = (p, -q) if p >= 0 else (q, -p)
    return difference(positive, negative)


def factors(a: int, b: int) -> tuple[int, int]:
    """(top, by): the longer number is multiplied by each digit of the other."""
    return (b, a) if len(str(a)) < len(str(b)) else (a, b)


def long_product(top: int, by: int, slip: Slip | None = None, says: str = "=") -> tuple[list[str], int]:
    """Lines multiplying top by each digit of `by` from the right and adding up, and the product.
    `says` joins each partial result to what it sums up: 'gives' where a slip would make '=' false."""
    lines, rest, total = [], str(by), 0
    for shift in range(len(str(by))):
        d = int(rest[-1])
        rest = rest[:-1]
        zeros = f", then {shift} zero{'s' if shift > 1 else ''}" if shift else ""
        if d == 0:
            lines.append(f"{rest}0 ends in 0: nothing to add")
            continue
        lines.append(f"{rest}{d} ends in {d}: {top} * {d}{zeros}")
        steps, product = multiply_digit(top, d, _counted_from(slip, len(lines)))
        shifted = product * 10 ** shift
        lines += [*steps, f"{top} * {d} {says} {product}" + (f", {shifted}" if shift else "")]
        if total:
            steps, added = add(total, shifted, _counted_from(slip, len(lines)))
            lines += [*steps, f"{total} + {shifted} {says} {added}"]
            total = added
        else:
            total = shifted
    return lines, total


def _counted_from(slip: Slip | None, first: int) -> Slip | None:
    """A slip counted from line `first` of a longer working (a line before it: never reached)."""
    return None if slip is None else (slip[0] - first, slip[1])


def digit_root(n: int) -> tuple[str, int]:
    """'456: 4+5=9, 9+6=15, 1+5=6' and 6: n's digits added up, and again, until one is left."""
    steps, digits = [], str(n)
    while len(digits) > 1:
        total = int(digits[0])
        for digit in digits[1:]:
            steps.append(f"{total}+{digit}={total + int(digit)}")
            total += int(digit)
        digits = str(total)
    return f"{n}: {', '.join(steps) or n}", int(digits)


def isolate(a: int, b: int, c: int, restate: bool) -> tuple[list[str], int]:
    """Lines taking b to the other side of a x + b = c (the equation restated first if asked), and c - b."""
    lines = [f"{term(a)} {signed(b)} = {c}" if b else f"{term(a)} = {c}"] if restate else []
    if not b:
        return lines, c
    steps, rhs = signed_sum(c, -b)
    return [*lines, f"{term(a)} = {c} {signed(-b)}", *steps, f"{term(a)} = {rhs}"], rhs


def divide_out(a: int, rhs: int, slip: Slip | None = None, says: str = "=") -> tuple[list[str], int]:
    """Lines solving a x = rhs by long division (|a| >= 2), and x.
    `says` joins x to its value: 'comes to' where a slip would make '=' false."""
    steps, quotient, _ = divide(abs(rhs), abs(a), slip)
    negative = rhs != 0 and (rhs >= 0) != (a > 0)
    x = -quotient if negative else quotient
    sign = ", and the signs differ, so x is negative" if negative else ""
    return [f"x = {rhs} / {a}: divide {abs(rhs)} by {abs(a)}{sign}", *steps, f"x {says} {x}"], x
