"""GRPO groups that start where the policy's greedy reply first goes wrong.

Plain GRPO samples whole replies; on a model whose greedy replies fail at one confident step, most
samples that differ from the greedy one differ elsewhere, and the step that failed is rarely
explored. Branching answers each problem greedily first and, for a reply that went wrong at a step a
checker can point to, starts the group right before that step: the prompt carries the reply's right
work, and every sample of the group tries the failed step again. The reward still checks only the
final answer (of prefix + continuation).
"""

from __future__ import annotations

from collections.abc import Callable

from ..engine.continuous import generate_all


def branch_at_first_errors(model, items: list, prompts: list[list[int]], n: int, max_new_tokens: int,
                           stop_ids: set[int], correct: Callable[[object, list[int]], bool],
                           first_error: Callable[[object, list[int]], int | None],
                           ) -> tuple[list[tuple[object, list[int]]], list[list[int]]]:
    """Greedy replies to `prompts`; returns n (item, prefix) pairs and their prompts (prompt + prefix).

    A wrong reply (correct(item, reply) false) whose first wrong step starts at token k > 0
    (first_error) gives prefix reply[:k]; these come first. The others (right, or wrong with no step to
    blame) follow with no prefix: the group starts afresh. Pass more items than n to pick failures.
    """
    replies = generate_all(model, prompts, max_new_tokens, stop_ids, max_batch=len(prompts))
    at_errors, afresh = [], []
    for item, prompt, reply in zip(items, prompts, replies):
        wrong_at = None if correct(item, reply) else first_error(item, reply)
        if wrong_at:
            at_errors.append(((item, reply[:wrong_at]), prompt + reply[:wrong_at]))
        else:
            afresh.append(((item, []), prompt))
    chosen = (at_errors + afresh)[:n]
    return [pair for pair, _ in chosen], [prompt for _, prompt in chosen]
