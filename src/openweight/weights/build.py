"""Turn a config and a dict of named tensors into a Transformer, checking every name and shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import contextmanager
from itertools import chain

import torch

from ..config import ModelConfig
from ..errors import CheckpointError
from ..model import Transformer
from .lazy import shapes_of
from .mxfp4 import dequantize_mxfp4

# Buffers some exporters write that carry nothing the model needs.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


# torch.nn.init's fills that the model's modules run when built. On meta tensors they go through
# torch._refs, whose first call imports torch._dynamo (~1 s and ~80 MiB) for tensors that hold nothing.
_INITIALISERS = ("normal_", "uniform_", "kaiming_uniform_", "trunc_normal_", "xavier_uniform_")


def _skipping_meta(fill):
    """`fill` for tensors with storage; meta tensors are returned as they are."""
    return lambda tensor, *args, **kwargs: tensor if tensor.is_meta else fill(tensor, *args, **kwargs)


@contextmanager
def _initialisers_skipped():
    """While a meta model is built, torch.nn.init skips meta tensors (module attributes are process-wide:
    another thread initialising real tensors meanwhile still gets its fills)."""
    saved = {name: getattr(torch.nn.init, name) for name in _INITIALISERS}
    for name, fill in saved.items():
        setattr(torch.nn.init, name, _skipping_meta(fill))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def empty_model(config: ModelConfig) -> Transformer:
    """The model with meta tensors (no storage), for checkpoint tensors to be assigned into."""
    with torch.device("meta"), _initialisers_skipped():
        return Transformer(config)


def expected_shapes(config: ModelConfig, model: Transformer | None = None) -> dict[str, torch.Size]:
    """Name -> shape of every tensor a checkpoint of this config holds (tied lm_head excluded), read
    from `model` (of this config) or from an empty one."""
    model = empty_model(config) if model is None else model
    shapes = {name: p.shape for name, p in model.state_dict().items()}
    if config.tie_word_embeddings:
        shapes.pop("lm_head.weight")
    return shapes


def decode_mxfp4(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace each `X_blocks`/`X_scales` pair by the dense tensor X."""
    out = {}
    for name, t in tensors.items():
        if name.endswith("_scales"):
            continue
        if name.endswith("_blocks"):
            base = name[: -len("_blocks")]
            scales = tensors.get(base + "_scales")
            if scales is None:
                raise CheckpointError(f"tensor '{name}' has no matching '{base}_scales'")
            try:
                out[base] = dequantize_mxfp4(t, scales)
            except ValueError as e:
                raise CheckpointError(f"tensor '{name}': {e}") from None
        else:
            out[name] = t
    return out


def build_model(config: ModelConfig, tensors: Mapping[str, torch.Tensor], dtype: torch.dtype = torch.float32,
                source: str = "checkpoint", prepare: Callable[[torch.nn.Module, str], object] | None = None
                ) -> Transformer:
    """A Transformer whose parameters are exactly `tensors` (cast to dtype); clear errors otherwise.

    The tensors are read one decoder layer at a time (weights.lazy.LazyTensors reads nothing before),
    and prepare(module, prefix), if given, runs on each layer as soon as it holds its weights, then on
    the whole model: a loader that quantizes there never holds every float weight at once.
    """
    quant = config.quantization_config or {}
    if quant.get("quant_method") == "mxfp4":
        tensors = decode_mxfp4(tensors)
    elif quant:
        raise CheckpointError(f"{source}: quantization_config.quant_method "
                              f"{quant.get('quant_method')!r} is not supported (mxfp4 is)")
    given = {name: shape for name, shape in shapes_of(tensors).items() if not name.endswith(_IGNORED_SUFFIXES)}
    if config.tie_word_embeddings:
        given.pop("lm_head.weight", None)
    model = empty_model(config)
    shapes = expected_shapes(config, model)
    missing = [n for n in shapes if n not in given]
    if missing:
        raise CheckpointError(f"{source}: missing tensor '{missing[0]}'"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unexpected = [n for n in given if n not in shapes]
    if unexpected:
        raise CheckpointError(f"{source}: unexpected tensor '{unexpected[0]}' for a {config.model_type} model"
                              + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
    for name, shape in shapes.items():
        if given[name] != shape:
            raise CheckpointError(f"{source}: tensor '{name}' has shape {tuple(given[name])}, "
                                  f"expected {tuple(shape)} from the config")

    def read(names: list[str], prefix: str = "") -> dict[str, torch.Tensor]:
        """These tensors, in dtype, named relative to `prefix`."""
        read = {name[len(prefix):]: tensors[name] for name in names}
        return {name: t.to(dtype) if t.is_floating_point() else t for name, t in read.items()}

    for i, layer in enumerate(model.model.layers):
        prefix = f"model.layers.{i}."
        layer.load_state_dict(read([n for n in shapes if n.startswith(prefix)], prefix), assign=True)
        if prepare is not None:
            prepare(layer, prefix[:-1])
    rest = [n for n in shapes if not n.startswith("model.layers.")]
    model.load_state_dict(read(rest), strict=False, assign=True)  # every name was checked above
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # Non-persistent buffers (RoPE frequencies) were created on the meta device: rebuild them.
    model.model.rotary_emb = type(model.model.rotary_emb)(config)
    model.eval().requires_grad_(False)
    if prepare is not None:
        prepare(model, "")
        unread = next((n for n, t in chain(model.named_parameters(), model.named_buffers()) if t.is_meta), None)
        if unread is not None:
            raise CheckpointError(f"{source}: tensor '{unread}' was not loaded")
    return model


def checkpoint_tensors(model: Transformer) -> dict[str, torch.Tensor]:
    """The tensors to save: the state dict without the tied output matrix."""
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return state
