"""Reasoning traces for every task family at three efforts, as harmony conversations.

high: every step written out and the result checked; medium: compact steps; low: straight to the
answer. The effort is read from the system message, as gpt-oss reads it. With the `calculate` tool
offered, big multiplications go to the tool in the commentary channel instead.
"""

from __future__ import annotations

import json
import random
import re

from .base import Problem
from .countdown import evaluate
from .steps import column_add, column_subtract, digit_multiply

IDENTITY = "You are openweight-mini, a small reasoning model."
CALCULATE = {"type": "function", "function": {
    "name": "calculate", "description": "Evaluates an arithmetic expression exactly.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}
EFFORTS = ("low", "medium", "high")
TOOL_FROM_DIGITS = 3  # with the tool offered, products of 3-digit numbers and up go to it


def _compact(lines: list[str]) -> str:
    """'9+8=17, write 7, carry 1' -> '9+8=17 c1': the medium-effort form of written-out steps."""
    short = [re.sub(r", write \d+", "", line).replace(", carry ", " c") for line in lines]
    return "; ".join(short)


def _add_sub(p: Problem, effort: str) -> str:
    a, op, b = p.data
    result = int(p.answer)
    if op == "+":
        lines, _ = column_add(a, b)
        check = f"Check: {result} - {b} = {a}. Correct."
    elif a >= b:
        lines, _ = column_subtract(a, b)
        check = f"Check: {result} + {b} = {a}. Correct."
    else:
        lines, _ = column_subtract(b, a)
        lines = [f"{a} is less than {b}, so compute {b} - {a} and make it negative."] + lines
        check = f"Check: {result} + {b} = {a}. Correct."
    if effort == "medium":
        return f"{a} {op} {b}: {_compact(lines)}. So {a} {op} {b} = {result}."
    return "\n".join([f"{a} {op} {b}, column by column from the right:", *lines,
                      f"So {a} {op} {b} = {result}.", check])


def _multiplication(p: Problem, effort: str) -> str:
    a, b = p.data
    partials, lines = [], [f"{a} * {b}: multiply {a} by each digit of {b}, from the right."]
    for k, d in enumerate(reversed(str(b))):
        steps, product = digit_multiply(a, int(d))
        shifted = product * 10 ** k
        partials.append(shifted)
        shift = f", shifted {k} place{'s' if k > 1 else ''}: {shifted}" if k else ""
        if effort == "medium":
            lines.append(f"{a} * {d} = {product}{shift}")
        else:
            lines += [f"{a} * {d}:", *steps, f"{a} * {d} = {product}{shift}"]
    total = partials[0]
    for part in partials[1:]:
        if effort == "medium":
            lines.append(f"{total} + {part} = {total + part}")
        else:
            steps, _ = column_add(total, part)
            lines += [f"Add {total} + {part}:", *steps, f"{total} + {part} = {total + part}"]
        total += part
    lines.append(f"So {a} * {b} = {total}.")
    if effort == "high":
        lines.append(f"Check: {a % 10} * {b % 10} = {(a % 10) * (b % 10)} ends in {(a * b) % 10}, "
                     f"and so does {total}. Correct.")
    return "\n".join(lines)


def _signed(n: int) -> str:
    """'+ 9' or '- 9', to follow another term."""
    return f"+ {n}" if n >= 0 else f"- {-n}"


def _linear(p: Problem, effort: str) -> str:
    a, b, c = p.data
    x = (c - b) // a
    ax = "x" if a == 1 else "-x" if a == -1 else f"{a}x"
    moved = f"{c} {_signed(-b)}"
    if effort == "medium":
        return f"{ax} = {moved} = {c - b}, x = {c - b} / {a} = {x}."
    return "\n".join([f"The equation is {ax} {_signed(b)} = {c}.",
                      f"Move {b} to the right side: {ax} = {moved} = {c - b}.",
                      f"Divide both sides by {a}: x = {c - b} / {a} = {x}.",
                      f"Check: {a} * {x} {_signed(b)} = {a * x} {_signed(b)} = {a * x + b}, and the right side is "
                      f"{c}. Correct."])


def _sorting(p: Problem, effort: str) -> str:
    numbers, order = p.data
    answer = p.answer
    if effort == "medium":
        return f"{len(numbers)} numbers in {order} order: {answer}."
    remaining, lines = list(numbers), [f"Sort {len(numbers)} numbers in {order} order, picking one at a time."]
    pick = min if order == "ascending" else max
    word = "smallest" if order == "ascending" else "largest"
    while len(remaining) > 1:
        chosen = pick(remaining)
        lines.append(f"Of {', '.join(map(str, remaining))} the {word} is {chosen}.")
        remaining.remove(chosen)
    lines.append(f"Last: {remaining[0]}.")
    lines.append(f"Check: {len(numbers)} numbers in, {len(numbers)} out, each one {'<=' if order == 'ascending' else '>='}"
                 f" the next. Correct.")
    return "\n".join(lines)


def _countdown(p: Problem, effort: str, rng: random.Random) -> str:
    numbers, target = p.data
    steps = _expression_steps(p.answer)
    if effort == "medium":
        return "; ".join(steps) + f". That makes {target}."
    lines = [f"Target {target} from {', '.join(map(str, numbers))}."]
    for _ in range(2):  # a couple of tries that miss, as a search would
        a, b = rng.sample(numbers, 2)
        value = a + b if rng.random() < 0.5 else a * b
        sign = "+" if value == a + b else "*"
        if value != target:
            lines.append(f"Try {a} {sign} {b} = {value}. Not {target}.")
    lines += [f"Try {p.answer}:", *steps, f"That makes {target}. Found it.",
              f"Check: it uses {', '.join(map(str, evaluate(p.answer)[1]))}, each given. Correct."]
    return "\n".join(lines)


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


def reasoning(problem: Problem, effort: str, rng: random.Random) -> str:
    """The analysis-channel text for a problem at an effort."""
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, got {effort!r}")
    if effort == "low":
        return "Answer directly."
    work = {"add_sub": _add_sub, "multiplication": _multiplication, "linear": _linear, "sorting": _sorting}
    if problem.family == "countdown":
        return _countdown(problem, effort, rng)
    return work[problem.family](problem, effort)


def prompt_messages(problem: Problem, effort: str, with_tool: bool = False) -> list[dict]:
    """The conversation up to the user's question: system (identity, effort), the tool if offered, the problem."""
    messages = [{"role": "system", "model_identity": IDENTITY, "knowledge_cutoff": None, "reasoning_effort": effort}]
    if with_tool:
        messages.append({"role": "developer", "tools": [CALCULATE]})
    messages.append({"role": "user", "content": problem.prompt})
    return messages


def conversation(problem: Problem, effort: str, rng: random.Random, with_tool: bool = False) -> list[dict]:
    """A whole harmony conversation teaching the problem: prompt, reasoning, (tool use,) final answer."""
    messages = prompt_messages(problem, effort, with_tool)
    if with_tool and problem.family == "multiplication" and problem.difficulty >= TOOL_FROM_DIGITS:
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
        messages.append({"role": "assistant", "channel": "analysis", "content": reasoning(problem, effort, rng)})
    messages.append({"role": "assistant", "channel": "final", "content": problem.answer})
    return messages
