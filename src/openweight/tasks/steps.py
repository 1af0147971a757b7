"""Written-out arithmetic, one column or digit at a time, as the high-effort traces show it.

Every line is short and regular, so a small model can learn to produce and follow it; a step that
a larger one would do in its head is still spelt out.
"""

from __future__ import annotations


def column_add(a: int, b: int) -> tuple[list[str], int]:
    """Lines adding two non-negative integers right to left with carries, and the sum."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    lines, carry, digits = [], 0, []
    for i in range(max(len(xs), len(ys))):
        x = int(xs[i]) if i < len(xs) else 0
        y = int(ys[i]) if i < len(ys) else 0
        total = x + y + carry
        expr = f"{x}+{y}" + (f"+{carry}" if carry else "")
        digit, carry = total % 10, total // 10
        digits.append(str(digit))
        lines.append(f"{expr}={total}, write {digit}" + (f", carry {carry}" if carry else ""))
    if carry:
        digits.append(str(carry))
        lines.append(f"write the last carry {carry}")
    return lines, a + b


def column_subtract(a: int, b: int) -> tuple[list[str], int]:
    """Lines subtracting b from a (a >= b >= 0) right to left with borrows, and the difference."""
    xs, ys = str(a)[::-1], str(b)[::-1]
    lines, borrow = [], 0
    for i in range(len(xs)):
        top, y = int(xs[i]), int(ys[i]) if i < len(ys) else 0
        expr = f"{top}-{y}" + (f"-{borrow}" if borrow else "")
        value = top - y - borrow
        if value < 0:
            lines.append(f"{expr} is negative, borrow: {expr.replace(str(top), str(top + 10), 1)}={value + 10}, "
                         f"write {value + 10}")
            borrow = 1
        else:
            lines.append(f"{expr}={value}, write {value}")
            borrow = 0
    return lines, a - b


def digit_multiply(a: int, d: int) -> tuple[list[str], int]:
    """Lines multiplying a by one digit d right to left with carries, and the product."""
    lines, carry = [], 0
    for ch in str(a)[::-1]:
        total = int(ch) * d + carry
        expr = f"{ch}*{d}" + (f"+{carry}" if carry else "")
        carry = total // 10
        lines.append(f"{expr}={total}, write {total % 10}" + (f", carry {carry}" if carry else ""))
    if carry:
        lines.append(f"write the last carry {carry}")
    return lines, a * d
