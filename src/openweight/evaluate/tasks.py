"""Held-out task accuracy per family and reasoning effort, with 95% intervals and reasoning length.

    openweight eval --model M --tasks add_sub,multiplication --effort low,medium,high --problems 500
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from ..chat import harmony
from ..engine.continuous import generate_all
from ..errors import TaskError
from ..tasks import FAMILIES, families
from ..tasks.checked import SLIP_FOUND
from ..tasks.reward import score_reply
from ..tasks.tools import answer_tool_call
from ..tasks.traces import EFFORTS, prompt_messages
from ..weights.atomic import atomic_write_text


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (sound near 0 and 1, unlike p +- 2 se)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Cell:
    family: str
    effort: str
    difficulty: int | None
    problems: int
    correct: int
    well_formed: int
    reasoning_tokens: float
    with_tool: bool = False
    by_level: dict[int, list[int]] = field(default_factory=dict)  # difficulty -> [correct, problems]
    variations: tuple[str, ...] = ()  # of tasks.VARIATIONS, each applied to every problem
    slips_caught: int = 0  # replies whose check found a slip and worked again (traces.SLIP_FOUND)
    right_after_catch: int = 0  # of those, the ones that ended right
    replies: list[dict] = field(default_factory=list)  # each reply with its problem, when kept (replies.jsonl)

    @property
    def accuracy(self) -> float:
        return self.correct / self.problems if self.problems else 0.0


def task_prompt(problem, effort: str, tokenizer, with_tool: bool = False) -> list[int]:
    return harmony.render_ids(prompt_messages(problem, effort, with_tool), tokenizer)[0]


def distinct_problems(family: str, count: int, seed: int, difficulty: int | None = None,
                      variations: tuple[str, ...] = ()) -> list:
    """`count` different held-out problems (restatements count as one), or all there are: a small
    space (1-digit products) runs out, and repeats would only weigh the same outcome twice. Each of
    `variations` applies to every sum and product: 'unequal_operands', one operand shorter than the
    other (from difficulty 2); 'everyday_forms', the prompt as people type it (tasks.families)."""
    rng = random.Random(f"{seed}:{family}:{difficulty}")
    generator = families(**dict.fromkeys(variations, 1.0))[family]
    items, keys = [], set()
    for _ in range(50 * count):
        problem = generator.sample(rng, difficulty, split="test")
        if problem.key not in keys:
            keys.add(problem.key)
            items.append(problem)
            if len(items) == count:
                break
    return items


def evaluate_cell(lm, family: str, effort: str, problems: int, seed: int = 0, difficulty: int | None = None,
                  batch_size: int = 32, max_new_tokens: int = 1024, with_tool: bool = False,
                  variations: tuple[str, ...] = (), keep_replies: bool = False) -> Cell:
    """Greedy replies to `problems` distinct held-out problems (distinct_problems) of one family at one
    effort. With the tool offered, a reply's calls to `calculate` are answered and the model goes on,
    within the same budget of `max_new_tokens` for everything it writes. The cell names only the
    variations that change its problems; with `keep_replies` it holds every reply, decoded."""
    variations = applied_variations(family, variations, difficulty)
    items = distinct_problems(family, problems, seed, difficulty, variations)
    prompts = [task_prompt(p, effort, lm.tokenizer, with_tool) for p in items]
    correct = formed = reasoning = caught = caught_right = 0
    by_level: dict[int, list[int]] = {}
    kept = []
    for problem, reply in zip(items, replies_with_tools(lm, prompts, max_new_tokens, max_batch=batch_size)):
        score = score_reply(problem, reply, lm.tokenizer)
        correct += score.correct
        formed += score.well_formed
        reasoning += score.reasoning_tokens
        if SLIP_FOUND in score.reasoning:
            caught += 1
            caught_right += score.correct
        level = by_level.setdefault(problem.difficulty, [0, 0])
        level[0] += score.correct
        level[1] += 1
        if keep_replies:
            kept.append({"family": family, "effort": effort, "difficulty": problem.difficulty, "tool": with_tool,
                         "prompt": problem.prompt, "expected": problem.answer, "answer": score.answer,
                         "correct": score.correct, "well_formed": score.well_formed,
                         "reasoning_tokens": score.reasoning_tokens, "reply": lm.tokenizer.decode(reply)})
    return Cell(family, effort, difficulty, len(items), correct, formed, reasoning / max(1, len(items)),
                with_tool, dict(sorted(by_level.items())), tuple(variations), caught, caught_right, kept)


def applied_variations(family: str, variations: tuple[str, ...], difficulty: int | None) -> tuple[str, ...]:
    """Those of `variations` that change the problems of `family` at `difficulty`: none of linear,
    sorting or Countdown, and no shorter operand at 1 digit."""
    return tuple(v for v in variations if v in FAMILIES[family].variations
                 and not (v == "unequal_operands" and difficulty == 1))


def replies_with_tools(lm, prompts: list[list[int]], max_new_tokens: int, max_calls: int = 4,
                       max_batch: int = 32) -> list[list[int]]:
    """Greedy replies; a reply that ends in a tool call gets the result appended and goes on."""
    stops = {lm.tokenizer.token_id("<|return|>"), lm.tokenizer.token_id("<|call|>")}
    calls = [0] * len(prompts)

    def tool_answer(i: int, reply: list[int]) -> list[int] | None:
        if calls[i] >= max_calls:
            return None
        calls[i] += 1
        return answer_tool_call(reply, lm.tokenizer)

    return generate_all(lm.model, prompts, max_new_tokens, stops, max_batch=max_batch, resume=tool_answer)


def family_label(family: str, variations: tuple[str, ...] | list[str]) -> str:
    """A cell's family as reports name it: 'add_sub', or 'add_sub, unequal operands, everyday forms'."""
    return ", ".join([family, *(v.replace("_", " ") for v in variations)])


def report(cells: list[Cell], title: str, asked: int | None = None) -> tuple[dict, str]:
    """(JSON-ready dict, markdown table); the table notes the cells with fewer problems than `asked`."""
    rows = []
    for c in cells:
        low, high = wilson_interval(c.correct, c.problems)
        rows.append({"family": c.family, "effort": c.effort, "difficulty": c.difficulty, "problems": c.problems,
                     "accuracy": c.accuracy, "ci95": [low, high], "well_formed": c.well_formed / c.problems,
                     "reasoning_tokens": c.reasoning_tokens, "tool": c.with_tool,
                     "variations": list(c.variations), "slips_caught": c.slips_caught,
                     "right_after_catch": c.right_after_catch,
                     "by_difficulty": {str(level): {"problems": n, "accuracy": right / n}
                                       for level, (right, n) in c.by_level.items()}})
    lines = [f"### {title}", "", "| family | difficulty | effort | tool | accuracy (95% CI) | reasoning tokens | n "
             "| by difficulty |", "|---|---|---|---|---|---:|---:|---|"]
    for r in rows:
        tool = "calculate" if r["tool"] else "-"
        levels = " · ".join(f"{level}: {100 * v['accuracy']:.0f}%" for level, v in r["by_difficulty"].items())
        lines.append(f"| {family_label(r['family'], r['variations'])} | {r['difficulty'] or 'mixed'} | {r['effort']} "
                     f"| {tool} | "
                     f"{100 * r['accuracy']:.1f}% ({100 * r['ci95'][0]:.1f}–{100 * r['ci95'][1]:.1f}) | "
                     f"{r['reasoning_tokens']:.0f} | {r['problems']} | {levels if r['difficulty'] is None else '-'} |")
    short = [f"{family_label(c.family, c.variations)} at {c.effort} effort ({c.problems})" for c in cells
             if asked is not None and c.problems < asked]
    if short:
        lines += ["", f"Fewer distinct held-out problems exist than the {asked} asked for in: {'; '.join(short)}."]
    caught = [f"{family_label(c.family, c.variations)} at {c.effort} effort {c.slips_caught} "
              f"({c.right_after_catch} then right)" for c in cells if c.slips_caught]
    if caught:
        lines += ["", f"Replies whose check found a slip and worked again: {'; '.join(caught)}."]
    return {"title": title, "cells": rows}, "\n".join(lines) + "\n"


def check_request(families: list[str], efforts: list[str], problems: int, difficulty: int | None,
                  max_new_tokens: int = 1024) -> None:
    """Refuse an evaluation that cannot run, before any model is loaded."""
    for family in families:
        if family not in FAMILIES:
            raise TaskError(f"unknown task family {family!r} (known: {', '.join(FAMILIES)})")
        top = FAMILIES[family].max_difficulty
        if difficulty is not None and not 1 <= difficulty <= top:
            raise TaskError(f"difficulty {difficulty} is out of range for {family} (1 to {top})")
    for effort in efforts:
        if effort not in EFFORTS:
            raise TaskError(f"unknown reasoning effort {effort!r} (known: {', '.join(EFFORTS)})")
    if problems < 1:
        raise TaskError(f"problems must be at least 1, got {problems}")
    if max_new_tokens < 1:
        raise TaskError(f"max_new_tokens must be at least 1, got {max_new_tokens}")


def run_eval(lm, families: list[str], efforts: list[str], problems: int, out: Path, title: str,
             difficulty: int | None = None, seed: int = 0, max_new_tokens: int = 1024,
             with_tool: bool = False, variations: tuple[str, ...] = (), keep_replies: bool = False) -> str:
    check_request(families, efforts, problems, difficulty, max_new_tokens)
    cells = [evaluate_cell(lm, f, e, problems, seed, difficulty, max_new_tokens=max_new_tokens,
                           with_tool=with_tool, variations=variations, keep_replies=keep_replies)
             for f in families for e in efforts]
    return write_report(cells, title, out, asked=problems)


def write_report(cells: list[Cell], title: str, out: Path, asked: int | None = None) -> str:
    """out/eval.json and out/eval.md (report), and out/replies.jsonl where the cells kept their replies
    (a line a reply); returns the markdown table."""
    data, table = report(cells, title, asked)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "eval.json", json.dumps(data, indent=2) + "\n")
    atomic_write_text(out / "eval.md", table)
    if any(c.replies for c in cells):
        atomic_write_text(out / "replies.jsonl", "".join(json.dumps(r) + "\n" for c in cells for r in c.replies))
    return table
