"""The written-out arithmetic: right results, and each line built from the one above it."""

import re

from hypothesis import given
from hypothesis import strategies as st

from openweight.tasks.step_check import check_steps
from openweight.tasks.steps import (SlipRefused, add, compare, difference, digit_root, divide, divide_out, factors,
                                    isolate, long_product, multiply_digit, signed_sum, subtract)

numbers = st.integers(0, 10**9)


def so_far(line: str) -> str:
    return line.rsplit("; ", 1)[1]


def operands(line: str) -> list[str]:
    return re.split(r"[-+*]", line.split(":")[0].split(" ")[0])


@given(numbers, numbers)
def test_add_and_subtract_end_with_the_result_and_drop_one_digit_a_line(a, b):
    lines, total = add(a, b)
    assert total == a + b and int(so_far(lines[-1])) == a + b
    for above, below in zip(lines, lines[1:]):
        assert [x[:-1] or "0" for x in operands(above)] == operands(below)
        assert so_far(below).endswith(so_far(above))
    big, small = max(a, b), min(a, b)
    lines, difference = subtract(big, small)
    assert difference == big - small and int(so_far(lines[-1])) == big - small
    assert len(lines) == len(str(big))


@given(numbers, st.integers(0, 9))
def test_multiply_digit(a, d):
    lines, product = multiply_digit(a, d)
    assert product == a * d and int(so_far(lines[-1])) == a * d


@given(numbers, st.integers(1, 99))
def test_divide_reads_the_dividend_from_the_left(n, d):
    lines, quotient, remainder = divide(n, d)
    assert (quotient, remainder) == divmod(n, d) and int(so_far(lines[-1])) == quotient
    assert [line.split(" ")[0] for line in lines] == [str(n)[i:] for i in range(len(str(n)))]


@given(numbers, numbers)
def test_compare_reads_from_the_left_until_the_digits_differ(a, b):
    line = compare(a, b)
    sign = "<" if a < b else ">" if a > b else "="
    assert line.endswith(f", so {a}{sign}{b}")
    parts = line.rsplit(", so ", 1)[0].split("; ")
    if len(str(a)) == len(str(b)):
        pairs = [part.split(":")[0].split(" vs ") for part in parts]
        assert pairs[0] == [str(a), str(b)]
        assert all(x[1:] == x2 and y[1:] == y2 for (x, y), (x2, y2) in zip(pairs, pairs[1:]))
        assert parts[-1].endswith(f"{pairs[-1][0][0]}{sign}{pairs[-1][1][0]}")


@given(numbers, numbers, st.integers(0, 9), st.sampled_from([-2, -1, 1, 2]))
def test_a_slip_falsifies_its_own_line_only_and_the_lines_after_go_on_from_it(a, b, line, off):
    big, small = max(a, b), min(a, b)
    for name, work, right in (("add", lambda slip: add(a, b, slip), a + b),
                              ("subtract", lambda slip: subtract(big, small, slip), big - small),
                              ("divide", lambda slip: divide(big, small % 97 + 2, slip)[:2], big // (small % 97 + 2)),
                              ("multiply", lambda slip: multiply_digit(a, b % 9 + 1, slip), a * (b % 9 + 1))):
        correct, _ = work(None)
        try:
            lines, result = work((line, off))
        except SlipRefused as e:  # a subtraction left borrowing past its top digit: refused, not written
            assert name == "subtract" and "borrow past its first digit" in str(e)
            continue
        if line >= len(correct):  # no such line: no slip
            assert (lines, result) == (correct, right)
            continue
        assert result != right and int(so_far(lines[-1])) == result and result >= 0
        check = check_steps("\n".join(lines))
        assert check.first_wrong == len("\n".join(lines[:line])) + (line > 0)  # the slipped line is the first wrong
        assert check_steps("\n".join(lines[line + 1:])).first_wrong is None  # and the rest follow from it
        assert lines[:line] == correct[:line]


signed_numbers = st.integers(-10**9, 10**9)


@given(numbers, numbers, signed_numbers, signed_numbers)
def test_longer_working_gets_its_results_with_every_step_true(a, b, p, q):
    for lines, result, right in ((*difference(a, b), a - b), (*signed_sum(p, q), p + q),
                                 (*long_product(*factors(a % 10**5, b % 10**4)), (a % 10**5) * (b % 10**4))):
        assert result == right
        assert check_steps("\n".join(lines)).first_wrong is None


@given(st.integers(0, 10**12))
def test_a_digit_root_is_the_number_modulo_nine(n):
    text, root = digit_root(n)
    assert root == (1 + (n - 1) % 9 if n else 0) and text.startswith(f"{n}: ")
    assert check_steps(text.replace(", ", "\n")).first_wrong is None


@given(st.integers(-20, 20).filter(lambda a: abs(a) >= 2), st.integers(-10**4, 10**4), signed_numbers)
def test_an_equation_solved_by_its_lines(a, x, b):
    c = a * x + b
    lines, rhs = isolate(a, b, c, restate=True)
    assert rhs == a * x and lines[0].endswith(f"= {c}")
    lines, solved = divide_out(a, rhs)
    assert solved == x and lines[-1] == f"x = {x}"
    assert check_steps("\n".join(lines)).first_wrong is None
