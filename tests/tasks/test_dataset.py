"""SFT mixtures: the same seed gives the same conversations; difficulty follows the given weights."""

import collections

from openweight.tasks.arithmetic import Multiplication
from openweight.tasks.base import integers
from openweight.tasks.dataset import task_conversations
from openweight.tasks.traces import TraceForms


def first_operand_digits(conversations: list[list[dict]]) -> collections.Counter:
    users = (next(m for m in c if m["role"] == "user") for c in conversations)
    return collections.Counter(len(str(integers(m["content"])[0])) for m in users)


def test_same_seed_same_conversations_and_difficulty_follows_its_weights():
    weights = {"multiplication": [0, 1, 0, 3]}
    first = task_conversations(400, 7, {"multiplication": 1.0}, 0.0, difficulty_weights=weights)
    assert first == task_conversations(400, 7, {"multiplication": 1.0}, 0.0, difficulty_weights=weights)
    digits = first_operand_digits(first)
    assert set(digits) == {2, 4} and 2.2 < digits[4] / digits[2] < 4.0, digits
    assert set(first_operand_digits(task_conversations(400, 7, {"multiplication": 1.0}, 0.0))) == {1, 2, 3, 4}


def users(conversations: list[list[dict]]) -> list[str]:
    return [next(m for m in c if m["role"] == "user")["content"] for c in conversations]


def test_the_shares_of_variations_reach_the_conversations():
    def unequal(conversations):
        return sum(len(str(integers(u)[0])) != len(str(integers(u)[1])) for u in users(conversations)) / 400

    def everyday(conversations):  # the share of prompts in none of the plain forms
        plain = Multiplication.FORMS["*"]
        return sum(u not in {f.format(a=integers(u)[0], b=integers(u)[1]) for f in plain}
                   for u in users(conversations)) / 400

    plain = task_conversations(400, 7, {"multiplication": 1.0}, 0.0)
    assert unequal(plain) == 0 and everyday(plain) == 0
    lopsided = task_conversations(400, 7, {"multiplication": 1.0}, 0.0, variations={"unequal_operands": 0.4})
    assert 0.2 < unequal(lopsided) < 0.4 and everyday(lopsided) == 0  # 0.4 of the problems above difficulty 1
    typed = task_conversations(400, 7, {"multiplication": 1.0}, 0.0, variations={"everyday_forms": 0.5})
    assert 0.4 < everyday(typed) < 0.6 and unequal(typed) == 0


def test_the_share_of_caught_slips_reaches_the_high_effort_traces():
    plain = task_conversations(300, 7, {"add_sub": 1.0}, 0.0)
    assert task_conversations(300, 7, {"add_sub": 1.0}, 0.0, forms=TraceForms()) == plain
    checked = task_conversations(300, 7, {"add_sub": 1.0}, 0.0, forms=TraceForms(caught_slips=0.5))
    high = [c for c in checked if c[0]["reasoning_effort"] == "high"]
    slipped = [c for c in checked if isinstance(c[-2]["content"], list)]
    assert set(map(id, slipped)) <= set(map(id, high)) and 0.35 < len(slipped) / len(high) < 0.65
    assert all("should give" in "".join(p["text"] for p in c[-2]["content"]) if c in slipped
               else "should give" in c[-2]["content"] for c in high)
