"""The `calculate` function tool the task traces offer, and running a model's call to it."""

from __future__ import annotations

import json

from ..chat import harmony
from ..chat.harmony import parse_ids
from .countdown import evaluate

CALCULATE = {"type": "function", "function": {
    "name": "calculate", "description": "Evaluates an arithmetic expression exactly.",
    "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}}


def calculate(expression: str) -> str:
    """The exact value of '+ - * /' arithmetic on integers ('12/8' -> '3/2'), or an error the model can read."""
    result = evaluate(expression)
    if result is None:
        return f"error: cannot evaluate {expression!r} (integers with + - * / and parentheses only)"
    value = result[0]
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def run_tool(name: str, arguments: str) -> str:
    """The result of a model's call to function `name` with JSON `arguments`, errors included as text."""
    if name != "calculate":
        return f"error: unknown tool {name!r}"
    try:
        return calculate(str(json.loads(arguments)["expression"]))
    except (ValueError, KeyError, TypeError):
        return "error: arguments must be a JSON object with a string 'expression'"


def answer_tool_call(reply: list[int], tokenizer) -> list[int] | None:
    """If the reply ends in a call to functions.calculate, the tokens that hand the model its result
    (the tool's message, then '<|start|>assistant'); None when the reply made no such call."""
    messages = parse_ids(reply, tokenizer)
    if not messages or messages[-1].end != "<|call|>":
        return None
    call = messages[-1]
    output = run_tool((call.recipient or "").removeprefix("functions."), call.content)
    return harmony.render_ids([{"role": "tool", "name": "functions.calculate", "content": output}], tokenizer)[0]
