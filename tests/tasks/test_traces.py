"""Every trace reaches the right answer through steps that are themselves right, at every effort."""

import random
import re

import pytest

from openweight import harmony
from openweight.tasks import FAMILIES
from openweight.tasks.step_check import check_steps
from openweight.tasks.base import Problem
from openweight.tasks.countdown import evaluate
from openweight.tasks.traces import EFFORTS, conversation, reasoning

def steps_checked(text: str) -> int:
    """How many arithmetic equalities the text writes; fails on a false one."""
    check = check_steps(text)
    assert check.first_wrong is None, text[check.first_wrong:].splitlines()[0]
    return check.checked


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("effort", EFFORTS)
def test_traces_are_right_and_answer_right(name, effort):
    family, rng = FAMILIES[name], random.Random(0)
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


@pytest.mark.parametrize("numbers, order", [((380, 889, 389, 56), "ascending"), ((7, 7, 0, 7), "descending"),
                                            ((5, 5, 5), "ascending"), ((42,), "descending")])
def test_sorting_picks_by_digit_columns_and_checks_every_neighbour(numbers, order):
    """Each pick line ends with the chosen number, zero-padded, alone among the numbers still tied (or
    tied only with equal ones); the check chain puts the right sign between every pair of neighbours."""
    answer = sorted(numbers, reverse=order == "descending")
    problem = Problem("sorting", "", ", ".join(map(str, answer)), (numbers, order), 1, None)
    *picks, check = reasoning(problem, "high", random.Random(0)).splitlines()[1:]
    width = max(len(str(n)) for n in numbers)
    for line, chosen, position in zip(picks, answer, range(1, len(answer) + 1)):
        head = line.split(" Sorted: ")[0].rstrip(".")
        last_tied = head.split(" Only ")[1] if " Only " in head else head.split(": ")[-1]
        assert set(last_tied.split(", ")) == {str(chosen).zfill(width)}, line
        assert line.endswith(f"Sorted: {', '.join(map(str, answer[:position]))}.")
    sign = "<" if order == "ascending" else ">"
    chain = " ".join(f"{a} {sign if a != b else '='}" for a, b in zip(answer, answer[1:]))
    assert check.startswith(f"Check: {chain} {answer[-1]};".replace("  ", " ")) and len(picks) == len(answer)


def test_countdown_high_effort_tries_near_misses_then_the_answer():
    """Every try but the last misses the target by its own worked-out value and differs from the
    answer in one term (an operator or a given number); the last try is the answer."""
    rng = random.Random(4)
    tries_seen = 0
    for _ in range(60):
        problem = FAMILIES["countdown"].sample(rng, 2)
        numbers, target = problem.data
        lines = reasoning(problem, "high", rng).splitlines()
        *misses, found = [line for line in lines if line.startswith("Try ")]
        assert found.startswith(f"Try {problem.answer}: ") and found.endswith("Found it.")
        for line in misses:
            expression, rest = line[len("Try "):].split(": ", 1)
            value = evaluate(expression)[0]
            assert rest.endswith(f". {value}, not {target}.") and value != target, line
            changed = [(a, b) for a, b in zip(re.findall(r"\d+|[-+*/]", expression),
                                              re.findall(r"\d+|[-+*/]", problem.answer)) if a != b]
            assert len(changed) == 1, (line, problem.answer)
            assert changed[0][0] in "+-*/" or int(changed[0][0]) in numbers
        tries_seen += len(misses)
    assert tries_seen >= 60  # one to three misses a problem, when the answer has neighbours


def test_countdown_tries_skip_changes_that_divide_by_zero():
    """Changing the + of 8 / (1 + 1) to - would divide by zero inside a bracket: no such try is written."""
    problem = Problem("countdown", "", "75 + ((8 / (1 + 1)) + 4)", ((1, 8, 1, 4, 75), 83), 3, None)
    for seed in range(20):
        text = reasoning(problem, "high", random.Random(seed))
        assert "(1 - 1)" not in text and text.splitlines()[-2].startswith(f"Try {problem.answer}: ")
