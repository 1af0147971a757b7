"""Task generators are seeded, keep a disjoint held-out split, and their checkers are exact."""

import random

import pytest

from openweight.tasks import FAMILIES, families
from openweight.tasks.base import integers
from openweight.tasks.countdown import evaluate


@pytest.mark.parametrize("name", list(FAMILIES))
def test_same_seed_same_problems(name):
    family = FAMILIES[name]
    def draw(seed):
        rng = random.Random(seed)
        return [family.sample(rng).prompt for _ in range(5)]

    assert draw(7) == draw(7) != draw(8)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_held_out_split_is_disjoint_and_about_ten_percent(name):
    family = FAMILIES[name]
    rng = random.Random(0)
    train = [family.sample(rng, split="train") for _ in range(300)]
    test = [family.sample(rng, split="test") for _ in range(100)]
    assert not any(p.held_out for p in train) and all(p.held_out for p in test)
    assert not {p.key for p in train} & {p.key for p in test}
    raw = [family.make(rng, rng.randint(1, family.max_difficulty)) for _ in range(2000)]
    rate = sum(p.held_out for p in raw) / len(raw)
    assert 0.05 < rate < 0.15


@pytest.mark.parametrize("name, draws", [("add_sub", 3000), ("multiplication", 3000), ("countdown", 3000),
                                         ("sorting", 30000)])
def test_a_restated_problem_stays_on_its_side_of_the_split(name, draws):
    """'7 * 3' is held out exactly when '3 * 7' is, Countdown's numbers and a list to sort whatever
    their order. At difficulty 1 restatements are common (sorting's 4 numbers under 100 need more
    draws to repeat a set), and none lies on both sides."""
    family, rng = FAMILIES[name], random.Random(2)
    train = [family.sample(rng, 1, split="train") for _ in range(draws)]
    test = [family.sample(rng, 1, split="test") for _ in range(300)]
    train_keys = {p.key for p in train}
    assert not any(p.key in train_keys for p in test)
    assert len({p.data for p in train}) > len(train_keys)  # restatements were drawn: the keys merged them


@pytest.mark.parametrize("name", list(FAMILIES))
def test_checkers_accept_the_answer_and_reject_wrong_ones(name):
    family = FAMILIES[name]
    rng = random.Random(1)
    for level in range(1, family.max_difficulty + 1):
        for _ in range(30):
            p = family.sample(rng, level)
            assert family.check(p, p.answer), p
            assert family.check(p, f"The answer is:\n{p.answer}"), p
            assert not family.check(p, ""), p
            assert not family.check(p, "I don't know."), p


def test_wrong_numbers_are_rejected():
    rng = random.Random(2)
    for name in ("add_sub", "multiplication", "linear"):
        p = FAMILIES[name].sample(rng, 3)
        wrong = str(integers(p.answer)[-1] + 1)
        assert not FAMILIES[name].check(p, wrong)
    p = FAMILIES["sorting"].sample(rng, 2)
    shuffled = integers(p.answer)[::-1]
    assert not FAMILIES["sorting"].check(p, ", ".join(map(str, shuffled)))


def test_difficulty_means_digits():
    rng = random.Random(3)
    p = FAMILIES["add_sub"].sample(rng, 8)
    a, _, b = p.data
    assert len(str(a)) == len(str(b)) == 8
    p = FAMILIES["multiplication"].sample(rng, 3)
    assert [len(str(n)) for n in p.data] == [3, 3]
    p = FAMILIES["countdown"].sample(rng, 2)
    assert len(p.data[0]) == 4 and "Use the numbers" in p.prompt


def test_countdown_checker_is_strict():
    family = FAMILIES["countdown"]
    p = family.make(random.Random(0), 2)
    numbers, target = p.data
    assert family.check(p, f"{p.answer} = {target}")
    assert not family.check(p, f"{target}")  # the target itself is not one of the numbers
    assert not family.check(p, f"{numbers[0]} * 1000")  # 1000 is not given
    assert not family.check(p, f"({p.answer}) ** 2")
    assert not family.check(p, "__import__('os')")
    assert evaluate("7 / 2 * 2") == (7, [7, 2, 2])
    assert evaluate("1 / 0") is None and evaluate("2 ** 3") is None and evaluate("1.5 + 1") is None
    assert evaluate("0x19 * 6") is None and evaluate("2_5 * 6") is None  # decimal numbers only


def test_an_expression_too_deep_to_evaluate_is_refused_not_raised():
    assert evaluate("1 + " * 5000 + "1") is None
    assert evaluate("(" * 1000 + "1" + ")" * 1000) is None


def test_numbers_are_read_with_or_without_thousands_separators():
    assert integers("1,234 and -5,000,000, then 12,34 and 7") == [1234, -5000000, 12, 34, 7]
    p = FAMILIES["add_sub"].sample(random.Random(4), 6)
    assert FAMILIES["add_sub"].check(p, f"{int(p.answer):,}")
    p = FAMILIES["sorting"].sample(random.Random(4), 4)  # 7 numbers of up to 3 digits
    assert FAMILIES["sorting"].check(p, p.answer.replace(", ", ","))  # '5,12,300' lists three numbers
    assert not FAMILIES["sorting"].check(p, p.answer + ", 1")


@pytest.mark.parametrize("name", ["add_sub", "multiplication"])
def test_unequal_operands_make_one_operand_shorter_on_either_side(name):
    """At a share of 1, from difficulty 2 one operand has fewer digits (1 to d - 1), now the first,
    now the second; at a share of 0 the problems are those of the family as it always was."""
    unequal, rng = families(1.0)[name], random.Random(4)
    for level in range(2, unequal.max_difficulty + 1):
        shapes = set()
        for _ in range(40):
            p = unequal.sample(rng, level)
            digits = [len(str(abs(n))) for n in p.data if isinstance(n, int)]
            assert max(digits) == level and min(digits) < level, p
            shapes.add(digits[0] < digits[1])
            assert unequal.check(p, p.answer)
        assert shapes == {True, False}, (name, level)
    assert unequal.sample(random.Random(0), 1).difficulty == 1  # one digit each: nothing shorter
    equal = families(0.0)[name]
    draw = lambda family: [family.sample(random.Random(9)).data for _ in range(20)]  # noqa: E731
    assert draw(equal) == draw(FAMILIES[name])
    with pytest.raises(ValueError, match="unequal_share must be from 0 to 1"):
        families(1.5)


@pytest.mark.parametrize("name", ["add_sub", "multiplication"])
def test_everyday_forms_ask_the_same_problems_as_people_type_them(name):
    """At a share of 1 every prompt is one of the everyday forms ('12+7', 'What's 25 times 40?'), each
    form turns up, and the problem is the one the plain forms ask: same numbers, answer and key."""
    typed, plain = families(everyday_forms=1.0)[name], FAMILIES[name]
    rng, seen = random.Random(6), set()
    for _ in range(300):
        p = typed.sample(rng, 3)
        op = "*" if name == "multiplication" else p.data[1]
        matching = [f for f in typed.EVERYDAY_FORMS[op] if f.format(a=p.data[0], op=op, b=p.data[-1]) == p.prompt]
        assert matching, p.prompt
        seen.update(matching)
        assert typed.check(p, p.answer) and plain.check(p, p.answer)
    assert seen == {f for forms in typed.EVERYDAY_FORMS.values() for f in forms}
    assert typed.sample(random.Random(9), 3).key == plain.sample(random.Random(9), 3).key
    with pytest.raises(ValueError, match="everyday_share must be from 0 to 1"):
        families(everyday_forms=-0.1)
