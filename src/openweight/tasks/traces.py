"""Reasoning traces for every task family at three efforts, as harmony conversations.

high: every step written out and the result checked; medium: compact steps; low: straight to the
answer. The effort is read from the system message, as gpt-oss reads it. With the `calculate` tool
offered, big multiplications go to the tool in the commentary channel instead.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, fields

from .base import Problem
from .checked import CHECKED, add_sub_opening, add_sub_work, checked_trace, product_opening
from .countdown import combine, evaluate
from .steps import divide_out, factors, isolate, long_product
from .tools import CALCULATE

IDENTITY = "You are openweight-mini, a small reasoning model."
INSTRUCTIONS = ("You are a helpful assistant.", "Be concise.", "Answer the question.",
                "You are a careful math tutor.", "Reply in English.", "Give only the final answer after thinking.")
EFFORTS = ("low", "medium", "high")
TOOL_FROM_DIGITS = 3  # with the tool offered, products whose shorter factor has 3 digits or more go to it


@dataclass(frozen=True)
class TraceForms:
    """Trace forms a recipe may ask for (SFT.<field>); with none, the traces the shipped model learnt."""

    # High-effort sums, differences and linear equations check their result in full, and this share
    # of them slip once, catch it and work again (checked.py).
    caught_slips: float | None = None
    # High-effort products check by casting out nines, and this share of them slip once, catch it and
    # work again (checked.py).
    caught_product_slips: float | None = None
    # High-effort Countdown first tries 0 to this many whole expressions of the numbers that miss,
    # each worked out, before the one that makes the target (_countdown).
    countdown_tries: int | None = None

    def drawing_nothing(self) -> TraceForms:
        """The same forms with nothing drawn at random: no slip, no Countdown misses."""
        return TraceForms(*(None if getattr(self, f.name) is None else 0 for f in fields(self)))


TRACE_FORMS = tuple(f.name for f in fields(TraceForms))


def _units_check(a: int, op: str, b: int, result: int) -> str:
    """A real check a model can do in its head: the units digit of the result, from the operands'."""
    if op == "*":
        return (f"Check: {a % 10}*{b % 10}={(a % 10) * (b % 10)} ends in {(a * b) % 10}, "
                f"and so does {result}. Correct.")
    if op == "+":
        return f"Check: {a % 10}+{b % 10}={a % 10 + b % 10} ends in {result % 10}, like {result}. Correct."
    if result >= 0:  # a - b = r, so r + b = a
        return f"Check: {result % 10}+{b % 10}={result % 10 + b % 10} ends in {a % 10}, like {a}. Correct."
    return f"Check: {-result % 10}+{a % 10}={-result % 10 + a % 10} ends in {b % 10}, like {b}. Correct."


def _add_sub(p: Problem, effort: str) -> str:
    """Digit by digit (a difference says first which operand is larger); high restates and checks."""
    a, op, b = p.data
    lines, result = add_sub_work(a, op, b)
    if effort == "medium":
        return "\n".join([*lines, f"{a} {op} {b} = {result}."])
    return "\n".join([add_sub_opening(a, op, b), *lines, f"So {a} {op} {b} = {result}.",
                      _units_check(a, op, b, result)])


def _multiplication(p: Problem, effort: str) -> str:
    """The longer factor times each digit of the shorter, then the rows added; high checks."""
    a, b = p.data
    high = effort == "high"
    lines = [product_opening(a, b)] if high else []
    steps, total = long_product(*factors(a, b))
    lines += [*steps, f"So {a} * {b} = {total}."]
    if high:
        lines.append(_units_check(a, "*", b, total))
    return "\n".join(lines)


def _linear(p: Problem, effort: str) -> str:
    """b taken to the other side, then a long division; high restates the equation and checks."""
    a, b, c = p.data
    lines, rhs = isolate(a, b, c, effort == "high")
    if abs(a) == 1:
        x = rhs * a
        lines.append(f"x = {x}")
    else:
        steps, x = divide_out(a, rhs)
        lines += steps
    if effort == "high":
        lines.append(f"Check: {abs(a) % 10}*{abs(x) % 10}={(abs(a) % 10) * (abs(x) % 10)} ends in "
                     f"{abs(a * x) % 10}, like {abs(rhs)}. Correct.")
    return "\n".join(lines)


def _sorting(p: Problem, effort: str) -> str:
    """Selection sort. High effort finds each pick by walking the numbers left with the best so far
    ('7→7': after 7 the smallest so far is 7), then restates the sorted part, so every line is
    built from the one above it; medium names each pick outright."""
    numbers, order = p.data
    pick, word = (min, "Smallest") if order == "ascending" else (max, "Largest")
    left, done, lines = list(numbers), [], []
    if effort == "high":
        lines.append(f"Sort {len(numbers)} numbers in {order} order: take the "
                     f"{word.lower()} of those left, one at a time.")
    while left:
        chosen = pick(left)
        if effort == "high":
            best, walk = left[0], [str(left[0])]
            for n in left[1:]:
                best = pick(best, n)
                walk.append(f"{n}→{best}")
            done.append(chosen)
            lines.append(f"{word} of {', '.join(walk)}: {chosen}. Sorted: {', '.join(map(str, done))}.")
        else:
            lines.append(f"{word} of {', '.join(map(str, left))}: {chosen}.")
        left.remove(chosen)
    if effort == "high":
        lines.append(f"Check: {len(numbers)} numbers in, {len(numbers)} out, each one "
                     f"{'<=' if order == 'ascending' else '>='} the next. Correct.")
    return "\n".join(lines)


def _countdown(p: Problem, effort: str, rng: random.Random, tries: int | None) -> str:
    """Medium: the answer's steps. High: tries that miss (0 to `tries` whole expressions, or without
    TraceForms.countdown_tries a couple of pairs), then the answer worked out and checked."""
    numbers, target = p.data
    steps = _expression_steps(p.answer)
    if effort == "medium":
        return "; ".join(steps) + f". That makes {target}."
    opening = f"Target {target} from {', '.join(map(str, numbers))}."
    misses = _misses(numbers, target, rng, tries) if tries is not None else _pair_misses(numbers, target, rng)
    return "\n".join([opening, *misses, f"Try {p.answer}:", *steps, f"That makes {target}. Found it.",
                      _uses(p.answer)])


def _pair_misses(numbers: tuple[int, ...], target: int, rng: random.Random) -> list[str]:
    """Two tries of a sum or product of two of the numbers, those that miss the target."""
    lines = []
    for _ in range(2):
        a, b = rng.sample(numbers, 2)
        value = a + b if rng.random() < 0.5 else a * b
        sign = "+" if value == a + b else "*"
        if value != target:
            lines.append(f"Try {a} {sign} {b} = {value}. Not {target}.")
    return lines


def _uses(expression: str) -> str:
    return f"Check: it uses {', '.join(map(str, evaluate(expression)[1]))}, each given. Correct."


def _misses(numbers: tuple[int, ...], target: int, rng: random.Random, tries: int) -> list[str]:
    """0 to `tries` whole expressions of some of the numbers, each worked out, that miss the target
    (nothing drawn when `tries` is 0). A draw that happens to make the target is left out."""
    lines = []
    for _ in range(rng.randint(0, tries) if tries else 0):
        chosen = rng.sample(numbers, rng.randint(2, len(numbers)))
        value, expression = combine(rng, [(n, str(n)) for n in chosen])
        if value != target:
            expression = expression[1:-1]  # combine wraps the whole in parentheses
            lines += [f"Try {expression}:", *_expression_steps(expression), f"That makes {value}. Not {target}."]
    return lines


def _expression_steps(expression: str) -> list[str]:
    """'((100 / 5) * 4) - 4' -> ['100 / 5 = 20', '20 * 4 = 80', '80 - 4 = 76']: innermost first."""
    steps = []
    text = expression
    inner = re.compile(r"\((\d+) ([-+*/]) (\d+)\)")
    while True:
        m = inner.search(text)
        if m is None:
            break
        value = int(evaluate(m.group(0))[0])
        steps.append(f"{m.group(1)} {m.group(2)} {m.group(3)} = {value}")
        text = text[:m.start()] + str(value) + text[m.end():]
    if not re.fullmatch(r"\d+", text):
        steps.append(f"{text} = {int(evaluate(text)[0])}")
    return steps


PLAIN = {"add_sub": _add_sub, "multiplication": _multiplication, "linear": _linear, "sorting": _sorting}


def reasoning(problem: Problem, effort: str, rng: random.Random,
              forms: TraceForms = TraceForms()) -> str | list[dict]:
    """The analysis-channel content for a problem at an effort: its text, or where a checked trace
    slips (TraceForms.caught_slips, caught_product_slips) text parts, the slip not learnt."""
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, got {effort!r}")
    if effort == "low":
        return "Answer directly."
    if problem.family == "countdown":
        return _countdown(problem, effort, rng, forms.countdown_tries)
    if effort == "high" and problem.family in CHECKED:
        share = getattr(forms, CHECKED[problem.family][1])
        if share is not None:
            return checked_trace(problem, rng, share)
    return PLAIN[problem.family](problem, effort)


def prompt_messages(problem: Problem, effort: str, with_tool: bool = False,
                    rng: random.Random | None = None) -> list[dict]:
    """The conversation up to the user's question: system (effort), the tool if offered, the problem.

    Without rng, the system message is harmony's default, as `lm.chat(..., reasoning_effort=)` and
    the server write it. With rng (training), the identity varies and developer instructions are
    sometimes given, so the model answers whatever system prompt a user's client sends.
    """
    system: dict = {"role": "system", "reasoning_effort": effort}
    developer: dict = {"role": "developer"}
    if rng is not None:
        identity = rng.choices([None, IDENTITY, "You are a helpful assistant."], [0.5, 0.35, 0.15])[0]
        if identity is not None:
            system.update(model_identity=identity, knowledge_cutoff=rng.choice([None, "2024-06"]))
        if rng.random() < 0.25:
            developer["content"] = rng.choice(INSTRUCTIONS)
    if with_tool:
        developer["tools"] = [CALCULATE]
    messages = [system] + ([developer] if len(developer) > 1 else [])
    messages.append({"role": "user", "content": problem.prompt})
    return messages


def _for_the_tool(problem: Problem) -> bool:
    """A product whose shorter factor has TOOL_FROM_DIGITS digits or more (4321 * 567, not 4321 * 56)."""
    return problem.family == "multiplication" and min(len(str(n)) for n in problem.data) >= TOOL_FROM_DIGITS


def conversation(problem: Problem, effort: str, rng: random.Random, with_tool: bool = False,
                 forms: TraceForms = TraceForms()) -> list[dict]:
    """A whole harmony conversation teaching the problem: prompt, reasoning (in `forms`), (tool use,)
    final answer."""
    messages = prompt_messages(problem, effort, with_tool, rng)
    if with_tool and _for_the_tool(problem):
        a, b = problem.data
        expression = f"{a} * {b}"
        messages += [
            {"role": "assistant", "channel": "analysis", "content": "A big product: use the calculate tool."},
            {"role": "assistant", "channel": "commentary", "recipient": "functions.calculate",
             "content_type": "<|constrain|>json", "content": json.dumps({"expression": expression})},
            {"role": "tool", "name": "functions.calculate", "content": problem.answer},
            {"role": "assistant", "channel": "analysis", "content": f"The tool says {expression} = {problem.answer}."},
        ]
    else:
        messages.append({"role": "assistant", "channel": "analysis",
                         "content": reasoning(problem, effort, rng, forms)})
    messages.append({"role": "assistant", "channel": "final", "content": problem.answer})
    return messages
