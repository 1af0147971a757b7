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
from .countdown import combine, evaluate
from .linear import term
from .steps import add, compare, divide, multiply_digit, subtract
from .tools import CALCULATE

IDENTITY = "You are openweight-mini, a small reasoning model."
INSTRUCTIONS = ("You are a helpful assistant.", "Be concise.", "Answer the question.",
                "You are a careful math tutor.", "Reply in English.", "Give only the final answer after thinking.")
EFFORTS = ("low", "medium", "high")
TOOL_FROM_DIGITS = 3  # with the tool offered, products whose shorter factor has 3 digits or more go to it
SLIP_FOUND = ": a slip"  # how a checked trace says its check found a slip (then it works again)


@dataclass(frozen=True)
class TraceForms:
    """Trace forms a recipe may ask for (SFT.<field>); with none, the traces the shipped model learnt."""

    # High-effort sums, differences and linear equations check their result in full, and this share
    # of them slip once, catch it and work again (_checked).
    caught_slips: float | None = None
    # High-effort products check by casting out nines, and this share of them slip once, catch it and
    # work again (_checked_multiplication).
    caught_product_slips: float | None = None
    # High-effort Countdown first tries 0 to this many whole expressions of the numbers that miss,
    # each worked out, before the one that makes the target (_countdown).
    countdown_tries: int | None = None


TRACE_FORMS = tuple(f.name for f in fields(TraceForms))


def _difference(a: int, b: int, slip: tuple[int, int] | None = None) -> tuple[list[str], int]:
    """Lines computing a - b for non-negative a and b: which is larger first, then the subtraction."""
    if a >= b:
        lines, value = subtract(a, b, slip)
        return [compare(a, b), *lines], value
    lines, value = subtract(b, a, slip)
    return [compare(a, b), f"so {a}-{b} is -({b}-{a}):", *lines], -value


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
    a, op, b = p.data
    lines, result = add(a, b) if op == "+" else _difference(a, b)
    if effort == "medium":
        return "\n".join([*lines, f"{a} {op} {b} = {result}."])
    return "\n".join([f"{a} {op} {b}, digit by digit from the right (result so far after ';'):", *lines,
                      f"So {a} {op} {b} = {result}.", _units_check(a, op, b, result)])


def _slipping(work, rng: random.Random) -> tuple[list[str], int, int]:
    """work(slip) -> (lines, result): the lines with one slip at a random line, the slipped result,
    and the index of the line that slipped."""
    right, value = work(None)
    while True:
        try:
            lines, slipped = work((rng.randrange(len(right)), rng.choice((-2, -1, 1, 2))))
        except ValueError:  # a slip no written work could make (a subtraction borrowing past its top)
            continue
        if slipped != value:  # every slip changes the result; this only makes sure
            wrong = next(i for i, (x, y) in enumerate(zip(lines, right)) if x != y)
            return lines, slipped, wrong


def _checked(opening: list[str], work, check, rng: random.Random, slips: float) -> list[tuple[str, bool]]:
    """Lines as (text, learnt): the opening, then work(None) -> (lines, result) and check(result) ->
    lines. In `slips` of the traces the work first slips once (_slipping; that line not learnt), the
    check of its result finds it, and the work is done again."""
    out = [(line, True) for line in opening]
    if slips and rng.random() < slips:  # nothing drawn at 0: the same problems follow as without the key
        lines, wrong, at = _slipping(work, rng)
        out += [(line, i != at) for i, line in enumerate(lines)] + [(line, True) for line in check(wrong)]
    lines, result = work(None)
    return out + [(line, True) for line in [*lines, *check(result)]]


def _checked_add_sub(p: Problem, rng: random.Random, slips: float) -> list[tuple[str, bool]]:
    """High effort with the inverse operation as the check ((a + b) - b gives a back; (a - b) + b
    gives a), `slips` of the traces catching a slip (_checked)."""
    a, op, b = p.data
    work = (lambda slip: add(a, b, slip)) if op == "+" else (lambda slip: _difference(a, b, slip))
    header = f"{a} {op} {b}, digit by digit from the right (result so far after ';'):"
    return _checked([header], work, lambda result: _inverse_check(a, op, b, result), rng, slips)


def _inverse_check(a: int, op: str, b: int, result: int) -> list[str]:
    """The result, the inverse operation worked out, and whether it gives a back. The result is not
    written 'a op b = result', which would be a false step where the work slipped."""
    inverse = "-" if op == "+" else "+"
    lines, back = _signed_sum(result, -b if op == "+" else b)
    verdict = "as it should. Correct." if back == a else f"not {a}{SLIP_FOUND} above. Again, digit by digit:"
    return [f"So {a} {op} {b} comes to {result}.", f"Check: {result} {inverse} {b} should give {a}:", *lines,
            f"{result} {inverse} {b} = {back}, {verdict}"]


def _multiplication(p: Problem, effort: str) -> str:
    a, b = p.data
    high = effort == "high"
    top, by = _factors(a, b)
    lines = [f"{a} * {b}: multiply {top} by each digit of {by}, from the right, and add up."] if high else []
    steps, total = _long_product(top, by)
    lines += [*steps, f"So {a} * {b} = {total}."]
    if high:
        lines.append(_units_check(a, "*", b, total))
    return "\n".join(lines)


def _checked_multiplication(p: Problem, rng: random.Random, slips: float) -> list[tuple[str, bool]]:
    """High effort with the product checked by casting out nines, `slips` of the traces catching a slip
    (_checked): a slip of 1 or 2 in any line moves the product by 1 or 2 times a power of 10, which
    no multiple of 9 is, so the check always finds it."""
    a, b = p.data
    top, by = _factors(a, b)
    opening = [f"{a} * {b}: multiply {top} by each digit of {by}, from the right, and add up."]
    return _checked(opening, lambda slip: _long_product(top, by, slip, says="gives"),
                    lambda product: _nines_check(a, b, product), rng, slips)


def _digit_root(n: int) -> tuple[str, int]:
    """'456: 4+5=9, 9+6=15, 1+5=6' and 6: n's digits added up, and again, until one is left."""
    steps, digits = [], str(n)
    while len(digits) > 1:
        total = int(digits[0])
        for digit in digits[1:]:
            steps.append(f"{total}+{digit}={total + int(digit)}")
            total += int(digit)
        digits = str(total)
    return f"{n}: {', '.join(steps) or n}", int(digits)


def _nines_check(a: int, b: int, product: int) -> list[str]:
    """The product, then casting out nines: its digit root against that of the factors' roots' product."""
    (a_text, a_root), (b_text, b_root) = _digit_root(a), _digit_root(b)
    both = a_root * b_root
    both_text, expected = _digit_root(both)
    got_text, got = _digit_root(product)
    verdict = "agree. Correct." if got == expected else f"differ{SLIP_FOUND} above. Again, digit by digit:"
    return [f"So {a} * {b} comes to {product}.", "Check by nines, adding up digits until one is left:",
            a_text, b_text, f"{a_root}*{b_root}={both}" + (f", {both_text}" if both > 9 else ""), got_text,
            f"{got} and {expected} {verdict}"]


def _factors(a: int, b: int) -> tuple[int, int]:
    """(top, by): the longer number is multiplied by each digit of the other."""
    return (b, a) if len(str(a)) < len(str(b)) else (a, b)


def _long_product(top: int, by: int, slip: tuple[int, int] | None = None, says: str = "=") -> tuple[list[str], int]:
    """Lines multiplying top by each digit of `by` from the right and adding up, and the product. A
    slip (steps.py) counts lines from the first; `says` joins each partial result to what it sums up,
    'gives' where a slip would make '=' a false step."""
    lines, rest, total = [], str(by), 0
    for shift in range(len(str(by))):
        d = int(rest[-1])
        rest, zeros = rest[:-1], f", then {shift} zero{'s' if shift > 1 else ''}" if shift else ""
        if d == 0:
            lines.append(f"{rest}0 ends in 0: nothing to add")
            continue
        lines.append(f"{rest}{d} ends in {d}: {top} * {d}{zeros}")
        steps, product = multiply_digit(top, d, _from(slip, len(lines)))
        shifted = product * 10 ** shift
        lines += [*steps, f"{top} * {d} {says} {product}" + (f", {shifted}" if shift else "")]
        if total:
            steps, added = add(total, shifted, _from(slip, len(lines)))
            lines += [*steps, f"{total} + {shifted} {says} {added}"]
            total = added
        else:
            total = shifted
    return lines, total


def _from(slip: tuple[int, int] | None, first: int) -> tuple[int, int] | None:
    """A slip counted from line `first` of a longer working (a line before it: never reached)."""
    return None if slip is None else (slip[0] - first, slip[1])


def _signed(n: int) -> str:
    """'+ 9' or '- 9', to follow another term."""
    return f"+ {n}" if n >= 0 else f"- {-n}"


def _signed_sum(p: int, q: int) -> tuple[list[str], int]:
    """Lines computing p + q for integers of any sign, by adding or subtracting the sizes."""
    if p >= 0 and q >= 0:
        return add(p, q)
    if p < 0 and q < 0:
        lines, total = add(-p, -q)
        return [f"Both negative: add {-p} and {-q}, then negate.", *lines], -total
    positive, negative = (p, -q) if p >= 0 else (q, -p)
    return _difference(positive, negative)


def _linear(p: Problem, effort: str) -> str:
    a, b, c = p.data
    lines, rhs = _isolate(a, b, c, effort == "high")
    if abs(a) == 1:
        x = rhs * a
        lines.append(f"x = {x}")
    else:
        steps, x = _divide_out(a, rhs)
        lines += steps
    if effort == "high":
        lines.append(f"Check: {abs(a) % 10}*{abs(x) % 10}={(abs(a) % 10) * (abs(x) % 10)} ends in "
                     f"{abs(a * x) % 10}, like {abs(rhs)}. Correct.")
    return "\n".join(lines)


def _isolate(a: int, b: int, c: int, restate: bool) -> tuple[list[str], int]:
    """Lines taking b to the other side of a x + b = c (the equation restated first if asked), and c - b."""
    lines = [f"{term(a)} {_signed(b)} = {c}" if b else f"{term(a)} = {c}"] if restate else []
    if not b:
        return lines, c
    steps, rhs = _signed_sum(c, -b)
    return [*lines, f"{term(a)} = {c} {_signed(-b)}", *steps, f"{term(a)} = {rhs}"], rhs


def _divide_out(a: int, rhs: int, slip: tuple[int, int] | None = None) -> tuple[list[str], int]:
    """Lines solving a x = rhs by long division (|a| >= 2), and x."""
    steps, quotient, _ = divide(abs(rhs), abs(a), slip)
    x = quotient if (rhs >= 0) == (a > 0) or rhs == 0 else -quotient
    sign = "" if (rhs >= 0) == (a > 0) or rhs == 0 else ", and the signs differ, so x is negative"
    return [f"x = {rhs} / {a}: divide {abs(rhs)} by {abs(a)}{sign}", *steps, f"x = {x}"], x


def _checked_linear(p: Problem, rng: random.Random, slips: float) -> list[tuple[str, bool]]:
    """High effort with the check worked out in full, a times x multiplied back, `slips` of the traces
    catching a slip in the division (_checked)."""
    a, b, c = p.data
    lines, rhs = _isolate(a, b, c, restate=True)
    if abs(a) == 1:  # nothing to divide
        x = rhs * a
        return [(line, True) for line in [*lines, f"x = {x}", f"Check: {term(a)} with x = {x} is {rhs}. Correct."]]
    return _checked(lines, lambda slip: _divide_out(a, rhs, slip), lambda x: _product_check(a, x, rhs), rng, slips)


def _product_check(a: int, x: int, rhs: int) -> list[str]:
    """a * x multiplied out (sizes first, then the sign), and whether it gives rhs."""
    top, by = _factors(abs(a), abs(x))
    steps, size = _long_product(top, by) if abs(x) > 1 else ([], abs(a) * abs(x))
    value = size if (a > 0) == (x >= 0) else -size
    verdict = "as it should. Correct." if value == rhs else f"not {rhs}{SLIP_FOUND} in the division. Again:"
    return [f"Check: {a} * {x} should be {rhs}:", *steps, f"{a} * {x} = {value}, {verdict}"]


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


def _countdown(p: Problem, effort: str, rng: random.Random, tries: int | None = None) -> str:
    numbers, target = p.data
    steps = _expression_steps(p.answer)
    if effort == "medium":
        return "; ".join(steps) + f". That makes {target}."
    lines = [f"Target {target} from {', '.join(map(str, numbers))}."]
    if tries is not None:
        return "\n".join([*lines, *_misses(numbers, target, rng, tries), f"Try {p.answer}:", *steps,
                          f"That makes {target}. Found it.", _uses(p.answer)])
    for _ in range(2):  # a couple of tries that miss, as a search would
        a, b = rng.sample(numbers, 2)
        value = a + b if rng.random() < 0.5 else a * b
        sign = "+" if value == a + b else "*"
        if value != target:
            lines.append(f"Try {a} {sign} {b} = {value}. Not {target}.")
    lines += [f"Try {p.answer}:", *steps, f"That makes {target}. Found it.", _uses(p.answer)]
    return "\n".join(lines)


def _uses(expression: str) -> str:
    return f"Check: it uses {', '.join(map(str, evaluate(expression)[1]))}, each given. Correct."


def _misses(numbers: tuple[int, ...], target: int, rng: random.Random, most: int) -> list[str]:
    """0 to `most` whole expressions of some of the numbers, each worked out, that miss the target
    (nothing drawn when `most` is 0). A draw that happens to make the target is left out."""
    lines = []
    for _ in range(rng.randint(0, most) if most else 0):
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


# Families with checked forms (TraceForms.caught_slips; caught_product_slips for multiplication).
CHECKED = {"add_sub": _checked_add_sub, "linear": _checked_linear, "multiplication": _checked_multiplication}


def reasoning(problem: Problem, effort: str, rng: random.Random,
              forms: TraceForms = TraceForms()) -> str | list[dict]:
    """The analysis-channel content for a problem at an effort: its text, or where a trace catches a
    slip (TraceForms.caught_slips) text parts, the slip not learnt."""
    if effort not in EFFORTS:
        raise ValueError(f"effort must be one of {EFFORTS}, got {effort!r}")
    if effort == "low":
        return "Answer directly."
    share = forms.caught_product_slips if problem.family == "multiplication" else forms.caught_slips
    if share is not None and effort == "high" and problem.family in CHECKED:
        return _content(CHECKED[problem.family](problem, rng, share))
    work = {"add_sub": _add_sub, "multiplication": _multiplication, "linear": _linear, "sorting": _sorting}
    if problem.family == "countdown":
        return _countdown(problem, effort, rng, forms.countdown_tries)
    return work[problem.family](problem, effort)


def _content(lines: list[tuple[str, bool]]) -> str | list[dict]:
    """Lines (text, learnt) as message content: one string if all are learnt, else text parts, each
    run of lines alike in being learnt one part ending in its newline, so that no token spans two."""
    if all(learnt for _, learnt in lines):
        return "\n".join(text for text, _ in lines)
    parts: list[dict] = []
    for i, (text, learnt) in enumerate(lines):
        text += "\n" if i < len(lines) - 1 else ""
        if parts and parts[-1].get("learn", True) == learnt:
            parts[-1]["text"] += text
        else:
            parts.append({"type": "text", "text": text} if learnt else {"type": "text", "text": text, "learn": False})
    return parts


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
