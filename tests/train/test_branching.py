"""Branching GRPO groups at the greedy reply's first wrong step, on the built-in model's real mistakes."""

import random

import openweight
from openweight.engine.continuous import generate_all
from openweight.evaluate.tasks import task_prompt
from openweight.tasks import FAMILIES
from openweight.tasks.reward import score_reply
from openweight.tasks.step_check import check_steps, first_wrong_token
from openweight.train.branching import branch_at_first_errors


def test_groups_start_right_before_the_step_the_greedy_reply_got_wrong():
    lm = openweight.load()
    tokenizer = lm.tokenizer
    stops = {tokenizer.token_id("<|return|>"), tokenizer.token_id("<|call|>")}
    rng = random.Random(5)
    problems = [FAMILIES["linear"].sample(rng, 2) for _ in range(12)]  # ~half go wrong at high effort
    prompts = [task_prompt(p, "high", tokenizer) for p in problems]
    text = lambda ids: "".join(tokenizer.decode([t]) for t in ids)  # as step_check reads replies

    def first_error(problem, reply):
        return first_wrong_token([tokenizer.decode([t]) for t in reply])

    def correct(problem, reply):
        return score_reply(problem, reply, tokenizer).correct

    pairs, branched = branch_at_first_errors(lm.model, problems, prompts, 8, 768, stops, correct, first_error)
    assert len(pairs) == len(branched) == 8
    with_prefix = [i for i, (_, prefix) in enumerate(pairs) if prefix]
    assert with_prefix and with_prefix == list(range(len(with_prefix)))  # the failures come first
    greedy = dict(zip(map(id, problems), generate_all(lm.model, prompts, 768, stops, max_batch=len(prompts))))
    for (problem, prefix), prompt in zip(pairs, branched):
        assert prompt == prompts[problems.index(problem)] + prefix
        reply = greedy[id(problem)]
        if prefix:
            assert not correct(problem, reply) and reply[:len(prefix)] == prefix
            assert check_steps(text(prefix)).first_wrong is None  # the prefix holds only right work
            wrong = check_steps(text(reply)).first_wrong
            assert len(text(prefix)) <= wrong < len(text(reply[:len(prefix) + 1]))  # it ends at that step
        else:
            assert correct(problem, reply) or first_error(problem, reply) in (None, 0)

