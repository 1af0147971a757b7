"""POST /v1/completions: raw text continuation, no chat format."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing

from ..engine.generate import TextStream
from .chat_completions import sampling_params
from .protocol import APIError, CompletionRequest
from .runner import Generation, ServedModel, interleave


def prompt_ids(served: ServedModel, req: CompletionRequest) -> tuple[list[int], int]:
    """(prompt ids, token budget)."""
    if isinstance(req.prompt, str):
        ids = served.lm.encode(req.prompt)
    else:
        vocab = served.lm.config.vocab_size
        bad = [t for t in req.prompt if not 0 <= t < vocab]
        if bad:
            raise APIError(400, f"prompt holds token id {bad[0]}, outside the vocabulary of {vocab}", "prompt")
        ids = list(req.prompt)
    return ids, served.budget(len(ids), req.max_tokens)


async def _texts(served: ServedModel, req: CompletionRequest, ids: list[int], budget: int, index: int,
                 record: Generation) -> AsyncIterator[str]:
    stops = served.lm.stop_token_ids
    text = TextStream(served.lm.tokenizer, req.stop, stops)
    seed = req.seed + index if req.seed is not None else None
    tokens = served.generate(ids, budget, sampling_params(req), stops, seed, record)
    async for token in tokens:
        piece = text.push(token)
        if piece:
            yield piece
        if text.done:
            await tokens.aclose()
            break
    tail = text.flush()
    if tail:
        yield tail


async def complete(served: ServedModel, req: CompletionRequest) -> dict:
    ids, budget = prompt_ids(served, req)
    records = [Generation() for _ in range(req.n)]

    async def one(i: int) -> str:
        return "".join([piece async for piece in _texts(served, req, ids, budget, i, records[i])])

    texts = await asyncio.gather(*(one(i) for i in range(req.n)))
    echo = served.lm.tokenizer.decode(ids) if req.echo else ""
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": served.name,
            "choices": [{"index": i, "text": echo + t, "logprobs": None,
                         "finish_reason": "length" if records[i].finish_reason == "length" else "stop"}
                        for i, t in enumerate(texts)],
            "usage": _usage(ids, records)}


def start_stream(served: ServedModel, req: CompletionRequest) -> AsyncIterator[str]:
    """Checks the request now (errors before any byte is sent), then streams server-sent events."""
    ids, budget = prompt_ids(served, req)
    return _stream(served, req, ids, budget)


async def _stream(served: ServedModel, req: CompletionRequest, ids: list[int], budget: int) -> AsyncIterator[str]:
    base = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": served.name}
    records = [Generation() for _ in range(req.n)]
    if req.echo:
        for i in range(req.n):
            yield _event(base, i, served.lm.tokenizer.decode(ids), None)
    texts = interleave([_texts(served, req, ids, budget, i, records[i]) for i in range(req.n)])
    async with aclosing(texts) as events:  # closed at once when the client goes
        async for i, piece in events:
            if piece is None:
                yield _event(base, i, "", "length" if records[i].finish_reason == "length" else "stop")
            else:
                yield _event(base, i, piece, None)
    if req.stream_options and req.stream_options.include_usage:
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage(ids, records)})}\n\n"
    yield "data: [DONE]\n\n"


def _usage(ids: list[int], records: list[Generation]) -> dict:
    completion = sum(r.tokens for r in records)
    return {"prompt_tokens": len(ids), "completion_tokens": completion, "total_tokens": len(ids) + completion}


def _event(base: dict, index: int, text: str, finish_reason: str | None) -> str:
    choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
    return f"data: {json.dumps({**base, 'choices': [choice]})}\n\n"
