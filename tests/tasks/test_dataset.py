"""SFT mixtures: the same seed gives the same conversations; difficulty follows the given weights."""

import collections

from openweight.tasks.base import integers
from openweight.tasks.dataset import task_conversations


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


def test_a_share_of_unequal_operands_reaches_the_conversations():
    def unequal(conversations):
        users = [next(m for m in c if m["role"] == "user")["content"] for c in conversations]
        return sum(len(str(integers(u)[0])) != len(str(integers(u)[1])) for u in users) / len(users)

    assert unequal(task_conversations(400, 7, {"multiplication": 1.0}, 0.0)) == 0
    share = unequal(task_conversations(400, 7, {"multiplication": 1.0}, 0.0, unequal_operands=0.4))
    assert 0.2 < share < 0.4, share  # 0.4 of the problems above difficulty 1 (3 levels in 4)
