"""Continuous batching: one loop serves every request, sharing each decode step among them.

Requests join between decode steps and leave as soon as they finish. A new request's prompt is
prefilled a chunk per loop turn, so the streams already running keep moving while it loads; the
requests right behind it in line with prompts of the same length (one template filled in) are
prefilled with it, in one forward, and copies of one prompt (a GRPO group) once.
Tokens go back through each request's `emit` callback, called from the engine's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .sampling import SamplingParams, sample
from .slot_cache import SlotCache

log = logging.getLogger("openweight.engine")

Emit = Callable[[int | None, str | None], None]  # (token or None, finish reason or None)


@dataclass(eq=False)
class Request:
    """One generation: emit(token, None) per token, then emit(last_token_or_None, reason) once, where
    reason is 'stop' (a stop token, which is the last token), 'length', 'cancelled' or 'error'."""

    prompt: list[int]
    max_new_tokens: int
    emit: Emit
    params: SamplingParams = SamplingParams()
    stop_ids: frozenset[int] = frozenset()
    seed: int | None = None
    constraint: object | None = None  # allowed(logits [vocab]) -> logits before a draw, accept(token) after
    cancelled: bool = False
    prefilled: int = 0
    produced: int = 0
    last_token: int = 0
    seen: torch.Tensor | None = None  # bool [vocab], for the repetition penalty
    generator: torch.Generator | None = None
    submitted: float = field(default_factory=time.perf_counter)


@dataclass
class EngineStats:
    steps: int = 0  # decode steps run
    tokens_out: int = 0
    prefill_tokens: int = 0
    batch_size: int = 0  # sequences in the last decode step
    waiting: int = 0


class Engine:
    """Serves Requests for one model with up to `max_batch` sequences decoding together.

    A loop turn prefills at most `admit_tokens` prompt tokens (default: one chunk), which is how long
    the running streams wait for a new one; a larger budget admits more requests at once (offline
    batches, `generate_all`)."""

    def __init__(self, model, max_batch: int = 16, max_context: int | None = None, prefill_chunk: int = 256,
                 admit_tokens: int | None = None):
        self.model = model
        self.max_batch = max_batch
        self.max_context = min(max_context or model.config.max_position_embeddings,
                               model.config.max_position_embeddings)
        self.prefill_chunk = prefill_chunk
        self.admit_tokens = admit_tokens or prefill_chunk
        self.cache = SlotCache(model.config, max_batch, self.max_context, prefill_chunk, model.cache_dtype)
        self.rows: list[Request] = []  # decoding, in rows 0..n-1
        self.loading: list[Request] = []  # being prefilled together (prompts of one length), rows n, n+1, ...
        self.waiting: deque[Request] = deque()
        self.stats = EngineStats()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ---- the outside: any thread ------------------------------------------------------------
    def submit(self, request: Request) -> None:
        if not request.prompt:
            raise ValueError("a request needs a prompt of at least one token")
        if len(request.prompt) + request.max_new_tokens > self.max_context:
            raise ValueError(f"prompt of {len(request.prompt)} tokens + max_new_tokens={request.max_new_tokens} "
                             f"exceeds the context of {self.max_context} tokens")
        with self._wake:
            if self._stopped:
                raise RuntimeError("the engine has stopped")
            self.waiting.append(request)
            self.stats.waiting = len(self.waiting)
            self._wake.notify()

    def cancel(self, request: Request) -> None:
        """Stop a request; its row is freed before the next decode step."""
        request.cancelled = True
        with self._wake:
            self._wake.notify()

    def start(self) -> Engine:
        self._thread = threading.Thread(target=self._run, name="openweight-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    # ---- the loop: the engine's thread --------------------------------------------------------
    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not (self._stopped or self.waiting or self.rows or self.loading):
                        self._wake.wait()
                    if self._stopped:
                        break
                try:
                    self.step()
                except Exception:  # a failed step fails the requests in it, not the engine
                    log.exception("engine step failed")
                    for request in [*self.rows, *self.loading]:
                        request.emit(None, "error")
                    self.rows, self.loading = [], []
                    for row in range(self.max_batch):
                        self.cache.clear(row)
        with self._wake:
            unfinished = [*self.rows, *self.waiting, *self.loading]
            self.waiting.clear()
        for request in unfinished:
            request.emit(None, "cancelled")

    def step(self) -> None:
        """One turn of the loop: drop cancelled requests, prefill a chunk of a new one, decode one token."""
        self._drop_cancelled()
        self._prefill_chunk()
        if self.rows:
            self._decode()

    def _drop_cancelled(self) -> None:
        with self._wake:
            for request in [r for r in self.waiting if r.cancelled]:
                self.waiting.remove(request)
                request.emit(None, "cancelled")
            self.stats.waiting = len(self.waiting)
        cancelled = [r.cancelled for r in self.loading]  # read once: another thread may cancel meanwhile
        if any(cancelled):  # the others move up over the freed rows and go on loading
            first, kept = len(self.rows), 0
            for offset, (request, gone) in enumerate(zip(self.loading, cancelled)):
                if gone:
                    request.emit(None, "cancelled")
                    continue
                if offset != kept:
                    self.cache.move(first + offset, first + kept)
                kept += 1
            for row in range(first + kept, first + len(self.loading)):
                self.cache.clear(row)
            self.loading = [r for r, gone in zip(self.loading, cancelled) if not gone]
        for request in [r for r in self.rows if r.cancelled]:
            self._release(request, None, "cancelled")

    def _admit(self) -> None:
        """Move the first waiting request, and those right behind it with prompts of its length, to the
        rows after the decoding ones (as many as fit, within admit_tokens a chunk; copies of a prompt
        that fits one chunk count once, as they are prefilled once)."""
        with self._wake:
            length = len(self.waiting[0].prompt)
            chunk = min(length, self.prefill_chunk)
            room, budget = self.max_batch - len(self.rows), max(1, self.admit_tokens // chunk)
            prompts: set = set()
            while self.waiting and len(self.loading) < room and len(self.waiting[0].prompt) == length:
                key = tuple(self.waiting[0].prompt) if length <= self.prefill_chunk else len(self.loading)
                if key not in prompts and len(prompts) == budget:
                    break
                prompts.add(key)
                self.loading.append(self.waiting.popleft())
            self.stats.waiting = len(self.waiting)
        for row in range(len(self.rows), len(self.rows) + len(self.loading)):
            self.cache.clear(row)

    def _prefill_chunk(self) -> None:
        if not self.loading:
            if not self.waiting or len(self.rows) >= self.max_batch:
                return
            self._admit()
        first = len(self.rows)
        start = self.loading[0].prefilled
        copies = self._share_prompts() if start == 0 and len(self.loading[0].prompt) <= self.prefill_chunk else []
        count = len(self.loading) - len(copies)  # rows first..first+count-1 run the model
        ids = torch.tensor([r.prompt[start:start + self.prefill_chunk] for r in self.loading[:count]])  # [count, chunk]
        positions = torch.arange(start, start + ids.shape[1]).repeat(count, 1)  # [count, chunk]
        logits = self.model(ids, positions, self.cache.step(slice(first, first + count)),
                            last_only=True)[:, -1]  # [count, vocab]
        for offset, source in enumerate(copies):
            self.cache.copy(first + source, first + count + offset)
        logits = torch.cat((logits, logits[copies])) if copies else logits  # [loading, vocab]
        for request in self.loading:
            request.prefilled += ids.shape[1]
        self.stats.prefill_tokens += ids.numel()
        if start + ids.shape[1] < len(self.loading[0].prompt):
            return
        loaded, self.loading = self.loading, []
        self.rows += loaded  # all in their rows before any can finish (and move another)
        for request in loaded:
            request.seen = torch.zeros(logits.shape[-1], dtype=torch.bool)
            request.seen[torch.tensor(request.prompt)] = True
            if request.seed is not None:
                request.generator = torch.Generator().manual_seed(request.seed)
        for request, token in zip(loaded, self._draw(loaded, logits)):
            self._take(request, token)

    def _share_prompts(self) -> list[int]:
        """Order the loading requests first copies first (a GRPO group is one prompt, sampled 8 times):
        the copies after them get the prefilled keys and values of their prompt's row instead of a
        forward of their own. Returns, for each copy, the loading index of its prompt's first copy."""
        firsts: dict[tuple[int, ...], int] = {}
        unique, copies, sources = [], [], []
        for request in self.loading:
            key = tuple(request.prompt)
            if key in firsts:
                copies.append(request)
                sources.append(firsts[key])
            else:
                firsts[key] = len(unique)
                unique.append(request)
        self.loading = unique + copies
        return sources

    def _decode(self) -> None:
        n = len(self.rows)
        ids = torch.tensor([[r.last_token] for r in self.rows])  # [n, 1]
        positions = self.cache.lengths[:n, None].clone()  # [n, 1]: each row continues from its length
        logits = self.model(ids, positions, self.cache.step(slice(0, n)))  # [n, 1, vocab]
        self.stats.steps += 1
        self.stats.batch_size = n
        rows = list(self.rows)
        for request, token in zip(rows, self._draw(rows, logits[:, -1])):
            self._take(request, token)

    @staticmethod
    def _draw(requests: list[Request], logits: torch.Tensor) -> list[int]:
        """Each request's next token from its row of logits [n, vocab]; the rows with the same sampling
        settings and no constraint in one call (512 seeded GRPO rollouts: ~14 ms a decode step, not ~80)."""
        tokens = [0] * len(requests)
        alike: dict[SamplingParams, list[int]] = {}
        for i, request in enumerate(requests):
            if request.constraint is not None:
                row = request.constraint.allowed(logits[i])[None]  # [1, vocab]
                tokens[i] = int(sample(row, request.seen[None], request.params, [request.generator])[0])
            else:
                alike.setdefault(request.params, []).append(i)
        for params, rows in alike.items():
            seen = torch.stack([requests[i].seen for i in rows]) if params.repetition_penalty != 1.0 else None
            drawn = sample(logits[torch.tensor(rows)], seen, params, [requests[i].generator for i in rows])
            for i, token in zip(rows, drawn.tolist()):
                tokens[i] = token
        return tokens

    def _take(self, request: Request, token: int) -> None:
        """Pass the request's next token on (or finish it)."""
        if request.constraint is not None:
            request.constraint.accept(token)
        request.seen[token] = True
        request.last_token = token
        request.produced += 1
        self.stats.tokens_out += 1
        if token in request.stop_ids:
            self._release(request, token, "stop")
        elif request.produced >= request.max_new_tokens:
            self._release(request, token, "length")
        else:
            request.emit(token, None)

    def _release(self, request: Request, token: int | None, reason: str) -> None:
        """Finish a decoding request and free its row, keeping the decoding rows contiguous."""
        row, last = self.rows.index(request), len(self.rows) - 1
        if row != last:
            self.cache.move(last, row)
            self.rows[row] = self.rows[last]
        self.rows.pop()
        self.cache.clear(last)
        if self.loading:  # they sit right after the decoding rows: the last of them fills the gap
            self.cache.move(last + len(self.loading), last)
            self.loading.insert(0, self.loading.pop())
        request.emit(token, reason)


def generate_all(model, prompts: list[list[int]], max_new_tokens: int, stop_ids: set[int],
                 params: SamplingParams = SamplingParams(), seeds: list[int | None] | None = None,
                 max_batch: int = 32, resume: Callable[[int, list[int]], list[int] | None] | None = None,
                 ) -> list[list[int]]:
    """Every prompt's reply (stop token included), run to the end with continuous batching in this thread.

    resume(i, reply) may return tokens to append to a finished reply (a tool's answer, say); the
    reply then goes on, within the same max_new_tokens for all it holds.
    """
    if not prompts:
        return []
    # No reply outgrows its prompt + max_new_tokens (tool results count against it): a cache that long
    # (not the model's whole context) is ~20x smaller for short replies at a large batch.
    longest = max((len(p) for p in prompts), default=0) + max_new_tokens
    engine = Engine(model, max_batch=max_batch, max_context=longest, admit_tokens=1024)  # no stream waits
    replies: list[list[int]] = [[] for _ in prompts]
    pending = [len(prompts)]
    resumed: list[int] = []  # replies to submit again, after the step that finished them

    def submit(i: int) -> None:
        budget = min(max_new_tokens, engine.max_context - len(prompts[i])) - len(replies[i])
        if budget <= 0:
            pending[0] -= 1
            return
        engine.submit(Request(prompts[i] + replies[i], budget, lambda t, r: emitted(i, t, r), params,
                              frozenset(stop_ids), seeds[i] if seeds else None))

    def emitted(i: int, token: int | None, reason: str | None) -> None:
        # Does not call submit: the two closures would then refer to each other, a cycle holding
        # submit's engine, and so the whole cache, until the garbage collector runs (GRPO's rollouts
        # piled up 20 GB of them).
        if token is not None:
            replies[i].append(token)
        if reason is None:
            return
        more = resume(i, replies[i]) if resume is not None and reason in ("stop", "length") else None
        if more:
            replies[i] += more
            resumed.append(i)
        else:
            pending[0] -= 1

    # Shortest first: prompts of one length are prefilled together, so a batch of assorted lengths
    # (GRPO's 64 prompts of a family) loads in a few turns rather than one turn a prompt.
    for i in sorted(range(len(prompts)), key=lambda i: len(prompts[i])):
        submit(i)
    with torch.inference_mode():
        while pending[0]:
            engine.step()
            for i in resumed:
                submit(i)
            resumed.clear()
    return replies
