"""POST /v1/chat/completions: messages in, a reply with reasoning, content and tool calls out."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field

from ..chat.reply import ChatDelta
from ..engine.generate import StopFilter
from ..engine.sampling import SamplingParams
from ..errors import GenerationError
from .json_mode import JSONAnswer
from .protocol import APIError, ChatCompletionRequest, Sampling
from .runner import Generation, ServedModel, interleave


def sampling_params(req: Sampling) -> SamplingParams:
    return SamplingParams(req.temperature, req.top_k, req.top_p, req.min_p, req.repetition_penalty)


def plain_messages(req: ChatCompletionRequest) -> list[dict]:
    """The request's messages as the chat formats take them (text parts joined)."""
    out = []
    for m in req.messages:
        message = m.model_dump(exclude_none=True)
        if isinstance(message.get("content"), list):
            message["content"] = "".join(part["text"] for part in message["content"])
        out.append(message)
    return out


@dataclass
class ChatPrompt:
    """A chat request made ready for the engine."""

    ids: list[int]
    forced: list[int]  # tokens of the reply fixed in advance (a forced tool call), part of ids
    budget: int
    stop_ids: set[int]


def chat_prompt(served: ServedModel, req: ChatCompletionRequest) -> ChatPrompt:
    tools = [t.model_dump(exclude_none=True) for t in req.tools or []] if req.tool_choice != "none" else None
    fmt = served.chat_format
    try:
        ids = fmt.prompt(plain_messages(req), req.reasoning_effort, tools)
    except GenerationError as e:
        raise APIError(400, str(e), "messages") from None
    forced = []
    if req.tool_choice == "required" or (req.tool_choice is not None and not isinstance(req.tool_choice, str)):
        try:
            forced = fmt.tool_call_prefix(None if req.tool_choice == "required" else req.tool_choice.function.name)
        except GenerationError as e:
            raise APIError(400, str(e), "tool_choice") from None
    param = "max_completion_tokens" if req.max_completion_tokens else "max_tokens"
    budget = served.budget(len(ids) + len(forced), req.token_budget, param)
    return ChatPrompt(ids + forced, forced, budget, fmt.stop_ids() | served.lm.stop_token_ids)


@dataclass
class Choice:
    """One choice's reply as it is built, and its counts."""

    index: int
    reasoning: str = ""
    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    record: Generation = field(default_factory=Generation)
    announced: set[int] = field(default_factory=set)  # tool calls whose id and name were streamed

    def delta_json(self, delta: ChatDelta) -> dict:
        """A stream delta in OpenAI's form: a tool call's id and name come with its first piece only."""
        out: dict = {}
        if delta.reasoning:
            out["reasoning_content"] = out["reasoning"] = delta.reasoning
        if delta.content:
            out["content"] = delta.content
        call = delta.tool_call
        if call is not None:
            entry: dict = {"index": call.index, "function": {"arguments": call.arguments}}
            if call.index not in self.announced:
                self.announced.add(call.index)
                entry.update(id=self.tool_calls[call.index]["id"], type="function")
                entry["function"]["name"] = call.name
            out["tool_calls"] = [entry]
        return out

    def message(self) -> dict:
        message = {"role": "assistant", "content": self.content if self.content or not self.tool_calls else None}
        if self.reasoning:
            message["reasoning_content"] = message["reasoning"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message


async def run_choice(served: ServedModel, prompt: ChatPrompt, req: ChatCompletionRequest,
                     choice: Choice) -> AsyncIterator[ChatDelta]:
    """The deltas of one choice; stop strings end the content, the finish reason lands in `choice`."""
    decoder = served.chat_format.decoder(prompt.ids[: len(prompt.ids) - len(prompt.forced)])
    stops = StopFilter(req.stop)
    seed = req.seed + choice.index if req.seed is not None else None

    def account(delta: ChatDelta) -> ChatDelta:
        text = stops.feed(delta.content) if delta.content else ""
        delta = ChatDelta(delta.reasoning, text, delta.tool_call)
        choice.reasoning += delta.reasoning
        choice.content += delta.content
        if delta.tool_call is not None:
            call = delta.tool_call
            if call.index == len(choice.tool_calls):
                choice.tool_calls.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                                          "function": {"name": call.name, "arguments": ""}})
            choice.tool_calls[call.index]["function"]["arguments"] += call.arguments
        return delta

    constraint = None
    if req.response_format is not None and req.response_format.type != "text":
        constraint = JSONAnswer(served.lm.tokenizer, served.chat_format.harmony, prompt.stop_ids)
    for token in prompt.forced:
        if constraint is not None:
            constraint.accept(token)
        delta = account(decoder.feed(token))
        if delta:
            yield delta
    tokens = served.generate(prompt.ids, prompt.budget, sampling_params(req), prompt.stop_ids, seed, choice.record,
                             constraint)
    reason = None
    async for token in tokens:
        if token in prompt.stop_ids:
            break
        if decoder.in_reasoning:
            choice.reasoning_tokens += 1
        delta = account(decoder.feed(token))
        if delta:
            yield delta
        if stops.done:
            reason = "stop"
            await tokens.aclose()  # frees the engine row now
            break
    tail, reply = decoder.finish("length" if choice.record.finish_reason == "length" else "stop")
    tail = account(tail)
    rest = stops.flush()
    tail.content += rest
    choice.content += rest
    if tail:
        yield tail
    choice.finish_reason = reason or ("tool_calls" if choice.tool_calls else reply.finish_reason)


def usage(prompt: ChatPrompt, choices: list[Choice]) -> dict:
    completion = sum(c.record.tokens for c in choices) + len(prompt.forced) * len(choices)
    prompt_tokens = len(prompt.ids) - len(prompt.forced)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion,
            "completion_tokens_details": {"reasoning_tokens": sum(c.reasoning_tokens for c in choices)}}


async def complete(served: ServedModel, req: ChatCompletionRequest, prompt: ChatPrompt) -> dict:
    choices = [Choice(i) for i in range(req.n)]

    async def drain(choice: Choice) -> None:
        async for _ in run_choice(served, prompt, req, choice):
            pass

    await asyncio.gather(*(drain(c) for c in choices))
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": served.name, "system_fingerprint": None,
            "choices": [{"index": c.index, "message": c.message(), "logprobs": None, "finish_reason": c.finish_reason}
                        for c in choices],
            "usage": usage(prompt, choices)}


async def stream(served: ServedModel, req: ChatCompletionRequest, prompt: ChatPrompt) -> AsyncIterator[str]:
    """Server-sent events: chat.completion.chunk objects, then 'data: [DONE]'."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": served.name, "system_fingerprint": None}
    choices = [Choice(i) for i in range(req.n)]

    def chunk(choices_part: list[dict], **extra) -> str:
        return f"data: {json.dumps({**base, 'choices': choices_part, **extra})}\n\n"

    for c in choices:
        yield chunk([{"index": c.index, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                      "finish_reason": None}])
    generations = interleave([run_choice(served, prompt, req, c) for c in choices])
    async with aclosing(generations) as events:  # closed at once when the client goes
        async for i, delta in events:
            choice = choices[i]
            if delta is None:
                yield chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": choice.finish_reason}])
            else:
                yield chunk([{"index": i, "delta": choice.delta_json(delta), "logprobs": None,
                              "finish_reason": None}])
    if req.stream_options and req.stream_options.include_usage:
        yield chunk([], usage=usage(prompt, choices))
    yield "data: [DONE]\n\n"
