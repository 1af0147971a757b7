"""A served model: the loaded LM, its continuous-batching engine, and generation as async token streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..chat.formats import ChatFormat
from ..engine.continuous import Engine, Request
from ..engine.sampling import SamplingParams
from .metrics import Metrics
from .protocol import APIError

DEFAULT_MAX_TOKENS = 2048  # when a request gives none: the rest of the context, at most this


@dataclass
class Generation:
    """What one generation produced besides its tokens."""

    finish_reason: str | None = None
    tokens: int = 0
    first_token_at: float | None = None
    started: float = field(default_factory=time.perf_counter)


class ServedModel:
    def __init__(self, name: str, lm, max_batch: int, max_context: int | None, metrics: Metrics):
        self.name, self.lm, self.metrics = name, lm, metrics
        self.created = int(time.time())
        self.engine = Engine(lm.model, max_batch=max_batch, max_context=max_context)
        self.chat_format = ChatFormat(lm.tokenizer)

    @property
    def max_context(self) -> int:
        return self.engine.max_context

    def budget(self, prompt_tokens: int, asked: int | None, param: str = "max_tokens") -> int:
        """The tokens a reply may have: as asked, or what the context leaves (400 if it leaves too few)."""
        room = self.max_context - prompt_tokens
        if asked is None:
            if room < 1:
                raise APIError(400, f"the prompt has {prompt_tokens} tokens, which fills the model's context of "
                                    f"{self.max_context}", "messages", "context_length_exceeded")
            return min(room, DEFAULT_MAX_TOKENS)
        if asked > room:
            raise APIError(400, f"the prompt ({prompt_tokens} tokens) plus {param}={asked} exceeds the model's "
                                f"context of {self.max_context} tokens", param, "context_length_exceeded")
        return asked

    async def generate(self, prompt: list[int], max_new_tokens: int, params: SamplingParams,
                       stop_ids: set[int], seed: int | None, record: Generation,
                       constraint=None) -> AsyncIterator[int]:
        """The generated tokens, stop token included; record gets the finish reason. Leaving the
        iteration early (a client gone) cancels the request and frees its row at once."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[int | None, str | None]] = asyncio.Queue()

        def emit(token: int | None, reason: str | None) -> None:  # called on the engine's thread
            loop.call_soon_threadsafe(queue.put_nowait, (token, reason))

        request = Request(prompt, max_new_tokens, emit, params, frozenset(stop_ids), seed, constraint)
        self.engine.submit(request)
        self.metrics.prompt_tokens += len(prompt)
        try:
            while True:
                token, reason = await queue.get()
                if token is not None:
                    if record.first_token_at is None:
                        record.first_token_at = time.perf_counter()
                        self.metrics.observe_first_token(record.first_token_at - record.started)
                    record.tokens += 1
                    self.metrics.completion_tokens += 1
                    yield token
                if reason is not None:
                    record.finish_reason = reason
                    return
        finally:
            if record.finish_reason is None:
                self.engine.cancel(request)
                record.finish_reason = "cancelled"
            elapsed = time.perf_counter() - (record.first_token_at or record.started)
            if record.tokens > 1 and elapsed > 0:
                self.metrics.observe_decode_rate((record.tokens - 1) / elapsed)


async def interleave(streams: list[AsyncIterator]) -> AsyncIterator[tuple[int, object]]:
    """(index, item) from several async iterators as items arrive, and (index, None) when one ends.
    Leaving early cancels them all (a client gone: every generation stops and frees its row)."""
    events: asyncio.Queue = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator) -> None:
        try:
            async for item in stream:
                await events.put((index, item))
        finally:
            await events.put((index, None))

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        running = len(tasks)
        while running:
            index, item = await events.get()
            running -= item is None
            yield index, item
    finally:
        for task in tasks:
            task.cancel()
