"""POST /v1/responses: the Responses API that gpt-oss is designed for.

Input items become chat messages, the reply is generated as a chat completion would be, and its
reasoning, answer and tool calls come back as output items (and, streamed, as the API's events).
Stored responses let a later request continue with previous_response_id.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .chat_completions import ChatPrompt, Choice, chat_prompt, run_choice
from .protocol import APIError, ChatCompletionRequest, ResponsesRequest, validate
from .runner import ServedModel

MAX_STORED = 1000


@dataclass
class StoredResponse:
    body: dict
    messages: list[dict]  # the whole conversation, this response's output included


class ResponseStore:
    """The most recent stored responses, by id."""

    def __init__(self, limit: int = MAX_STORED):
        self.limit, self.items = limit, OrderedDict()

    def get(self, response_id: str) -> StoredResponse:
        if response_id not in self.items:
            raise APIError(404, f"no stored response with id {response_id!r}", "previous_response_id",
                           "response_not_found")
        return self.items[response_id]

    def put(self, response_id: str, stored: StoredResponse) -> None:
        self.items[response_id] = stored
        while len(self.items) > self.limit:
            self.items.popitem(last=False)


def _text(content, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") not in ("input_text", "output_text", "text"):
                raise APIError(400, f"{where}: content parts must be input_text or output_text", where)
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise APIError(400, f"{where}: content must be a string or a list of text parts", where)


def input_messages(items: str | list[dict]) -> list[dict]:
    """Responses input items -> chat messages (function calls become an assistant's tool_calls)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict] = []
    reasoning = ""
    for i, item in enumerate(items):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise APIError(400, f"{where}: each input item must be an object", where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise APIError(400, f"{where}.role: must be user, system, developer or assistant, got {role!r}",
                               f"{where}.role")
            message = {"role": role, "content": _text(item.get("content"), f"{where}.content")}
            if role == "assistant" and reasoning:
                message["reasoning_content"], reasoning = reasoning, ""
            messages.append(message)
        elif kind == "reasoning":
            reasoning += "".join(str(p.get("text", "")) for p in item.get("content") or [] if isinstance(p, dict))
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise APIError(400, f"{where}.{key}: a function_call item needs a string {key}", f"{where}.{key}")
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
                last["tool_calls"].append(call)
            else:
                message = {"role": "assistant", "content": "", "tool_calls": [call]}
                if reasoning:
                    message["reasoning_content"], reasoning = reasoning, ""
                messages.append(message)
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise APIError(400, f"{where}.call_id: a function_call_output item needs a call_id",
                               f"{where}.call_id")
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item["call_id"],
                             "content": output if isinstance(output, str) else json.dumps(output)})
        else:
            raise APIError(400, f"{where}.type: unknown input item type {kind!r}", f"{where}.type")
    return messages


@dataclass
class Turn:
    """A Responses request made ready to generate."""

    messages: list[dict]
    chat: ChatCompletionRequest
    prompt: ChatPrompt


def prepare(served: ServedModel, req: ResponsesRequest, store: ResponseStore) -> Turn:
    history = store.get(req.previous_response_id).messages if req.previous_response_id else []
    new = input_messages(req.input)
    instructions = [{"role": "developer", "content": req.instructions}] if req.instructions else []
    messages = history + new
    tool_choice = req.tool_choice
    if tool_choice is not None and not isinstance(tool_choice, str):
        tool_choice = {"type": "function", "function": {"name": tool_choice.name}}
    fields = dict(model=req.model, messages=instructions + messages, max_tokens=req.max_output_tokens,
                  temperature=req.temperature, top_p=req.top_p, seed=req.seed,
                  reasoning_effort=req.reasoning.effort if req.reasoning else None,
                  tools=[{"type": "function", "function": t.model_dump(exclude={"type"}, exclude_none=True)}
                         for t in req.tools] if req.tools else None,
                  tool_choice=tool_choice, response_format=_response_format(req))
    chat = validate(ChatCompletionRequest, {k: v for k, v in fields.items() if v is not None})
    return Turn(messages, chat, chat_prompt(served, chat))


def _response_format(req: ResponsesRequest) -> dict | None:
    """text.format of the Responses API in the chat completions' response_format form."""
    fmt = req.text.format if req.text else None
    if fmt is None or fmt.type != "json_schema":
        return {"type": fmt.type} if fmt else None
    return {"type": "json_schema", "json_schema": {"name": fmt.name, "schema": fmt.schema_}}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def output_items(choice: Choice, ids: dict[str, str]) -> list[dict]:
    """A finished choice as Responses output items (ids: item kind -> id, kept from the stream)."""
    items = []
    if choice.reasoning:
        items.append({"type": "reasoning", "id": ids.setdefault("reasoning", _new_id("rs")), "summary": [],
                      "content": [{"type": "reasoning_text", "text": choice.reasoning}], "status": "completed"})
    if choice.content or not choice.tool_calls:
        items.append({"type": "message", "id": ids.setdefault("message", _new_id("msg")), "status": "completed",
                      "role": "assistant", "content": [{"type": "output_text", "text": choice.content,
                                                        "annotations": [], "logprobs": []}]})
    for n, call in enumerate(choice.tool_calls):
        items.append({"type": "function_call", "id": ids.setdefault(f"call{n}", _new_id("fc")),
                      "call_id": call["id"], "name": call["function"]["name"],
                      "arguments": call["function"]["arguments"], "status": "completed"})
    return items


def response_body(response_id: str, req: ResponsesRequest, turn: Turn, choice: Choice | None,
                  ids: dict[str, str], created: int) -> dict:
    done = choice is not None and choice.finish_reason is not None
    incomplete = done and choice.finish_reason == "length"
    body = {
        "id": response_id, "object": "response", "created_at": created, "model": req.model,
        "status": "incomplete" if incomplete else "completed" if done else "in_progress",
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None, "error": None,
        "instructions": req.instructions, "previous_response_id": req.previous_response_id,
        "reasoning": {"effort": req.reasoning.effort if req.reasoning else None, "summary": None},
        "tools": [t.model_dump(exclude_none=True) for t in req.tools or []],
        "tool_choice": req.tool_choice if isinstance(req.tool_choice, str) or req.tool_choice is None
        else req.tool_choice.model_dump(),
        "parallel_tool_calls": True, "temperature": req.temperature, "top_p": req.top_p,
        "max_output_tokens": req.max_output_tokens, "text": {"format": {"type": "text"}}, "truncation": "disabled",
        "metadata": req.metadata or {}, "store": req.store,
        "output": output_items(choice, ids) if done else [],
        "usage": None,
    }
    if done:
        prompt_tokens = len(turn.prompt.ids) - len(turn.prompt.forced)
        output_tokens = choice.record.tokens + len(turn.prompt.forced)
        body["usage"] = {"input_tokens": prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
                         "output_tokens": output_tokens,
                         "output_tokens_details": {"reasoning_tokens": choice.reasoning_tokens},
                         "total_tokens": prompt_tokens + output_tokens}
    return body


def _remember(store: ResponseStore, req: ResponsesRequest, turn: Turn, choice: Choice, body: dict) -> None:
    if not req.store:
        return
    reply = {"role": "assistant", "content": choice.content}
    if choice.reasoning:
        reply["reasoning_content"] = choice.reasoning
    if choice.tool_calls:
        reply["tool_calls"] = choice.tool_calls
    store.put(body["id"], StoredResponse(body, turn.messages + [reply]))


async def complete(served: ServedModel, req: ResponsesRequest, turn: Turn, store: ResponseStore) -> dict:
    choice = Choice(0)
    async for _ in run_choice(served, turn.prompt, turn.chat, choice):
        pass
    body = response_body(_new_id("resp"), req, turn, choice, {}, int(time.time()))
    _remember(store, req, turn, choice, body)
    return body


async def stream(served: ServedModel, req: ResponsesRequest, turn: Turn, store: ResponseStore) -> AsyncIterator[str]:
    """The Responses streaming events, each item opened, filled by deltas and closed in order."""
    response_id, created, ids = _new_id("resp"), int(time.time()), {}
    choice = Choice(0)
    sequence = 0

    def event(kind: str, **data) -> str:
        nonlocal sequence
        sequence += 1
        return f"event: {kind}\ndata: {json.dumps({'type': kind, 'sequence_number': sequence - 1, **data})}\n\n"

    in_progress = response_body(response_id, req, turn, None, ids, created)
    yield event("response.created", response=in_progress)
    yield event("response.in_progress", response=in_progress)
    items = ItemEvents(event, ids)
    async for delta in run_choice(served, turn.prompt, turn.chat, choice):
        if delta.reasoning:
            for e in items.text("reasoning", delta.reasoning):
                yield e
        if delta.content:
            for e in items.text("message", delta.content):
                yield e
        if delta.tool_call is not None:
            call = choice.tool_calls[delta.tool_call.index]
            for e in items.call(delta.tool_call.index, call, delta.tool_call.arguments):
                yield e
    for e in items.close():
        yield e
    body = response_body(response_id, req, turn, choice, ids, created)
    _remember(store, req, turn, choice, body)
    yield event("response.incomplete" if body["status"] == "incomplete" else "response.completed", response=body)


class ItemEvents:
    """Opens, fills and closes output items as the deltas of a reply arrive."""

    def __init__(self, event, ids: dict[str, str]):
        self.event, self.ids = event, ids
        self.index = -1  # output_index of the open item
        self.key: str | None = None  # which item is open: 'reasoning', 'message' or 'call<n>'
        self.text_so_far = ""
        self.call: dict | None = None

    def _open(self, key: str, item: dict) -> list[str]:
        out = self.close()
        self.index += 1
        self.key, self.text_so_far = key, ""
        out.append(self.event("response.output_item.added", output_index=self.index, item=item))
        return out

    def text(self, key: str, piece: str) -> list[str]:
        out = []
        if self.key != key:
            prefix = "rs" if key == "reasoning" else "msg"
            item_id = self.ids.setdefault(key, _new_id(prefix))
            if key == "reasoning":
                item = {"type": "reasoning", "id": item_id, "summary": [], "content": [], "status": "in_progress"}
                part = {"type": "reasoning_text", "text": ""}
            else:
                item = {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._open(key, item)
            out.append(self.event("response.content_part.added", item_id=item_id, output_index=self.index,
                                  content_index=0, part=part))
        self.text_so_far += piece
        kind = "response.reasoning_text.delta" if key == "reasoning" else "response.output_text.delta"
        extra = {} if key == "reasoning" else {"logprobs": []}
        out.append(self.event(kind, item_id=self.ids[key], output_index=self.index, content_index=0, delta=piece,
                              **extra))
        return out

    def call(self, n: int, call: dict, arguments: str) -> list[str]:
        key, out = f"call{n}", []
        if self.key != key:
            item = {"type": "function_call", "id": self.ids.setdefault(key, _new_id("fc")), "call_id": call["id"],
                    "name": call["function"]["name"], "arguments": "", "status": "in_progress"}
            out += self._open(key, item)
            self.call = item
        self.text_so_far += arguments
        out.append(self.event("response.function_call_arguments.delta", item_id=self.ids[key],
                              output_index=self.index, delta=arguments))
        return out

    def close(self) -> list[str]:
        if self.key is None:
            return []
        key, text, item_id = self.key, self.text_so_far, self.ids[self.key]
        self.key = None
        if key == "reasoning":
            part = {"type": "reasoning_text", "text": text}
            item = {"type": "reasoning", "id": item_id, "summary": [], "content": [part], "status": "completed"}
            return [self.event("response.reasoning_text.done", item_id=item_id, output_index=self.index,
                               content_index=0, text=text),
                    self.event("response.content_part.done", item_id=item_id, output_index=self.index,
                               content_index=0, part=part),
                    self.event("response.output_item.done", output_index=self.index, item=item)]
        if key == "message":
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            item = {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}
            return [self.event("response.output_text.done", item_id=item_id, output_index=self.index,
                               content_index=0, text=text, logprobs=[]),
                    self.event("response.content_part.done", item_id=item_id, output_index=self.index,
                               content_index=0, part=part),
                    self.event("response.output_item.done", output_index=self.index, item=item)]
        item = {**self.call, "arguments": text, "status": "completed"}
        return [self.event("response.function_call_arguments.done", item_id=item_id, output_index=self.index,
                           name=item["name"], arguments=text),
                self.event("response.output_item.done", output_index=self.index, item=item)]
