"""The Countdown search: what it finds is a right answer, and it finds every solution of its forms."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from openweight.tasks import FAMILIES
from openweight.tasks.countdown import evaluate
from openweight.tasks.countdown_search import Value, combine, search

COUNTDOWN = FAMILIES["countdown"]


def test_what_it_finds_solves_the_problem():
    rng = random.Random(0)
    found = 0
    for _ in range(300):
        problem = COUNTDOWN.sample(rng, rng.randint(1, 2))
        lines, expression = search(list(problem.data[0]), problem.data[1])
        if expression is not None:
            found += 1
            assert COUNTDOWN.check(problem, expression), (problem, expression)
            assert lines[-1] == f"{expression}={problem.data[1]}. Found it."
    assert found >= 0.9 * 300  # what it leaves are ((a∘b)∘c)∘d, about 5% of 4-number problems


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=3, max_size=4), st.data())
def test_it_finds_every_pair_and_one_number_last_solution(numbers, data):
    """Any target made as (a∘b)∘c from the numbers is found (perhaps by another expression)."""
    a, b, c = data.draw(st.permutations(range(len(numbers))))[:3]
    first = data.draw(st.sampled_from(combine(Value(numbers[a], str(numbers[a]), frozenset([a])),
                                              Value(numbers[b], str(numbers[b]), frozenset([b])))))
    made = data.draw(st.sampled_from(combine(first, Value(numbers[c], str(numbers[c]), frozenset([c])))))
    _, expression = search(numbers, made.number)
    assert expression is not None
    value, used = evaluate(expression)
    assert value == made.number
    left = list(numbers)
    for n in used:
        left.remove(n)  # each given number at most once
