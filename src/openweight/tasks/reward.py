"""Scoring a model's harmony reply to a task problem: the checker's verdict and the reply's form."""

from __future__ import annotations

from dataclasses import dataclass

from ..chat.harmony import TokenParser
from . import FAMILIES
from .base import Problem


@dataclass
class Score:
    correct: bool
    well_formed: bool  # ends with a final message closed by <|return|>, nothing malformed (analysis optional)
    reasoning_tokens: int
    answer: str
    reasoning: str = ""  # the analysis channel's text


def score_reply(problem: Problem, reply: list[int], tokenizer) -> Score:
    """Parse the generated ids (what follows '<|start|>assistant') and check the final answer."""
    parser = TokenParser(tokenizer, role="assistant")
    analysis_tokens = 0
    for token in reply:
        channel_before = parser.parser.channel
        parser.feed(token)
        if channel_before == "analysis" and parser.parser.channel == "analysis":
            analysis_tokens += 1
    parser.finish()
    messages = parser.messages
    finals = [m for m in messages if m.channel == "final"]
    answer = finals[-1].content if finals else ""
    well_formed = (bool(finals) and all(m.error is None for m in messages) and finals[-1].end == "<|return|>"
                   and messages[-1] is finals[-1])
    reasoning = "".join(m.content for m in messages if m.channel == "analysis")
    return Score(FAMILIES[problem.family].check(problem, answer) if finals else False, well_formed,
                 analysis_tokens, answer, reasoning)


def task_reward(score: Score, format_weight: float = 0.1) -> float:
    """Correctness from the checker, plus a small term for a well-formed reply."""
    return float(score.correct) + (format_weight if score.well_formed else 0.0)
