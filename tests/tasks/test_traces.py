"""Every trace reaches the right answer through steps that are themselves right, at every effort."""

import random
import re
from pathlib import Path

import pytest

import openweight

from openweight import harmony
from openweight.tasks import FAMILIES, families
from openweight.tasks.countdown import evaluate
from openweight.tasks.step_check import check_steps
from openweight.tasks.traces import EFFORTS, TraceForms, conversation
from openweight.tokenizer import Tokenizer

TOKENIZER = Tokenizer.from_folder(Path(openweight.__file__).parent / "builtin" / "openweight-mini")

def steps_checked(text: str) -> int:
    """How many arithmetic equalities the text writes; fails on a false one."""
    check = check_steps(text)
    assert check.first_wrong is None, text[check.first_wrong:].splitlines()[0]
    return check.checked


@pytest.mark.parametrize("varied", [False, True])  # sums and products lopsided and asked in everyday forms
@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("effort", EFFORTS)
def test_traces_are_right_and_answer_right(name, effort, varied):
    family, rng = families(varied, varied)[name], random.Random(0)
    for level in range(1, family.max_difficulty + 1):
        for _ in range(15):
            problem = family.sample(rng, level)
            messages = conversation(problem, effort, rng)
            assert messages[0]["reasoning_effort"] == effort
            analysis = messages[-2]["content"]
            final = messages[-1]
            assert final["channel"] == "final" and family.check(problem, final["content"])
            assert steps_checked(analysis) > 0 or effort == "low" or name == "sorting"
            harmony.render(messages, for_training=True)  # renders as harmony


def test_more_effort_means_more_reasoning():
    rng = random.Random(1)
    for name, family in FAMILIES.items():
        problem = family.sample(rng, family.max_difficulty)
        lengths = [len(conversation(problem, e, random.Random(2))[-2]["content"]) for e in EFFORTS]
        assert lengths[0] < lengths[1] < lengths[2], (name, lengths)
        high = conversation(problem, "high", random.Random(2))[-2]["content"]
        assert "Check" in high


def test_with_the_tool_big_products_go_to_it_and_small_work_is_done_by_hand():
    rng = random.Random(3)
    big = FAMILIES["multiplication"].sample(rng, 4)
    messages = conversation(big, "high", rng, with_tool=True)
    call = next(m for m in messages if m.get("recipient") == "functions.calculate")
    assert call["channel"] == "commentary" and str(big.data[0]) in call["content"]
    result = next(m for m in messages if m["role"] == "tool")
    assert result["content"] == big.answer and messages[-1]["content"] == big.answer
    small = FAMILIES["add_sub"].sample(rng, 3)
    messages = conversation(small, "high", rng, with_tool=True)
    assert messages[1]["role"] == "developer" and not any(m.get("recipient") for m in messages)


def test_a_product_of_unequal_factors_multiplies_the_longer_by_each_digit_of_the_shorter():
    """'7 * 1234' is one row of 1234 * 7, not four of 7 times a digit; with the tool offered, a product
    goes to it when its shorter factor has 3 digits or more."""
    rng = random.Random(5)
    problem = next(p for p in (families(1.0)["multiplication"].sample(rng, 4) for _ in range(200))
                   if len(str(p.data[0])) == 1)
    a, b = problem.data
    high = conversation(problem, "high", rng)[-2]["content"]
    assert high.startswith(f"{a} * {b}: multiply {b} by each digit of {a},")
    assert f"{b} * {a} = {a * b}" in high and f"So {a} * {b} = {a * b}." in high
    assert not any(m.get("recipient") for m in conversation(problem, "high", rng, with_tool=True))
    big = next(p for p in (families(1.0)["multiplication"].sample(rng, 4) for _ in range(200))
               if min(len(str(n)) for n in p.data) == 3)
    assert any(m.get("recipient") == "functions.calculate" for m in conversation(big, "high", rng, with_tool=True))


@pytest.mark.parametrize("name, form", [("add_sub", "caught_slips"), ("linear", "caught_slips"),
                                        ("multiplication", "caught_product_slips")])
def test_a_checked_trace_catches_its_slip_and_learns_all_but_the_slip(name, form):
    """With caught_slips, high effort works the inverse out in full (products: casting out nines). A
    trace that slips shows the slip in a part that is not learnt; its check says so and the work is
    done again, right this time."""
    family, rng = FAMILIES[name], random.Random(6)
    slipped = 0
    for level in range(1, family.max_difficulty + 1):
        for _ in range(15):
            problem = family.sample(rng, level)
            for share in (0.0, 1.0):
                messages = conversation(problem, "high", rng, forms=TraceForms(**{form: share}))
                content, final = messages[-2]["content"], messages[-1]["content"]
                assert family.check(problem, final)
                text = content if isinstance(content, str) else "".join(part["text"] for part in content)
                assert text.endswith("Correct.")  # the last check holds
                if isinstance(content, str):  # no slip: every step right
                    assert "slip" not in content and steps_checked(content) > 0
                    continue
                slipped += 1
                assert share == 1.0 and [part.get("learn", True) for part in content] == [True, False, True]
                assert content[1]["text"].count("\n") == 1  # one line, and the slip is its only false step
                assert check_steps(text).first_wrong == len(content[0]["text"])
                assert steps_checked(content[2]["text"]) > 0 and text.count(": a slip") == 1
                ids, mask = harmony.render_ids(messages, TOKENIZER, for_training=True)
                learnt = TOKENIZER.decode([t for t, m in zip(ids, mask) if m])
                assert content[1]["text"] not in learnt and content[2]["text"] in learnt
                if name == "linear":  # a slipped x 'comes to' its value: no learnt line says x = a wrong one
                    assert set(re.findall(r"^x = -?\d+$", learnt, re.M)) <= {problem.answer}
    assert slipped > 20  # all but equations with x alone (nothing to divide) and the odd 1-digit sum


def test_countdown_tries_whole_expressions_that_miss_before_the_one_that_makes_the_target():
    family, rng = FAMILIES["countdown"], random.Random(8)
    counts = set()
    for level in range(1, family.max_difficulty + 1):
        for _ in range(40):
            problem = family.sample(rng, level)
            numbers, target = problem.data
            messages = conversation(problem, "high", rng, forms=TraceForms(countdown_tries=4))
            text = messages[-2]["content"]
            tries = [line[len("Try "):-1] for line in text.splitlines() if line.startswith("Try ")]
            misses = text.count(f". Not {target}.")
            counts.add(misses)
            assert misses == len(tries) - 1 <= 4 and tries[-1] == problem.answer
            for expression in tries:  # given numbers only, each used at most as often as given
                used = evaluate(expression)[1]
                assert all(used.count(n) <= numbers.count(n) for n in used)
            assert steps_checked(text) >= len(tries) and text.endswith("each given. Correct.")
            assert family.check(problem, messages[-1]["content"])
    assert counts == {0, 1, 2, 3, 4}
    plain = conversation(problem, "high", random.Random(1), forms=TraceForms(countdown_tries=0))[-2]["content"]
    assert "Not" not in plain and plain.count("Try ") == 1
