"""Compiled decode steps over a static KV cache (engine.kv_cache).

With a static cache and a fixed batch, every decode step has the same shapes, so a step is compiled
once per (batch, cache size); cache sizes come in powers of two to keep that set small. A step that
is one graph is compiled ahead of time (engine.aot) and kept on disk. A mixture-of-experts batch that
sends more (token, expert) pairs than there are experts runs its experts in a data-dependent loop
(model.mlp.MoE.grouped), unless they are quantized for openweight's kernels (which route any batch in
one call): that step goes through torch.compile, with the loop between graphs.
"""

from __future__ import annotations

import functools
import weakref

import torch

from ..model.mlp import MoE

_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
SMALLEST_CACHE = 256
# Inductor's C++ wrapper calls the step's ~120 kernels from C++ rather than Python: SmolLM2 int4
# decodes at 179 tokens/s with it, 153 without (2 threads). Freezing the weights gained nothing.
OPTIONS = {"cpp_wrapper": True}


def traced(model, batch: int) -> bool:
    """Whether decode_step goes through torch.compile, which needs a static cache (every slot seen
    every step, so that the shapes never change); a step compiled ahead of time takes the written
    slots only, however many."""
    return not all(layer.one_graph(batch) for layer in model.modules() if isinstance(layer, MoE))


def decode_step(model, batch: int, slots: int, chunk: int):
    """A generation's compiled decode step for a static KVCache(batch, slots, chunk): (tokens [batch, 1],
    positions [batch, 1], cache) -> logits. Ahead of time (engine.aot: no compiler in the process once
    the package exists) where the step is one graph; torch.compile where a mixture of experts runs its
    grouped loop between graphs (MoE.one_graph)."""
    if not traced(model, batch):
        from .aot import aot_step

        return aot_step(model, batch, slots, chunk)
    return _TracedStep(compiled_layers(model))


class _TracedStep:
    """torch.compile'd layers for one generation: its first call checks Dynamo's guards (and compiles a
    new shape); later calls keep the model, cache and shapes the guards saw, so checking all ~2,600
    of them again (~0.9 ms a step for SmolLM2) would only tell the compiled graphs apart."""

    def __init__(self, layers):
        self.layers, self.calls = layers, 0

    def __call__(self, tokens, positions, cache):
        with torch.compiler.set_stance("default", skip_guard_eval_unsafe=self.calls > 0):
            self.calls += 1
            return self.layers(tokens, positions, cache)


def compiled_layers(model):
    """model.run_layers through torch.compile, the graph broken where the experts are grouped."""
    fn = _COMPILED.get(model)
    if fn is None:
        _grouped_experts_outside_graphs()
        fn = torch.compile(model.run_layers, dynamic=False, options=OPTIONS)
        _COMPILED[model] = fn
    return fn


@functools.cache
def _grouped_experts_outside_graphs() -> None:
    """Which experts MoE.grouped runs depends on the data, so compiled graphs call it eagerly. Set on
    the class when something first compiles: the decorator would import torch._dynamo for every
    eager user too."""
    MoE.grouped = torch.compiler.disable(MoE.grouped)


def cache_slots(needed: int, context: int) -> int:
    """Slots of a static cache holding `needed` tokens: a power of two from 256, at most the context."""
    slots = SMALLEST_CACHE
    while slots < needed:
        slots *= 2
    return min(slots, context)
