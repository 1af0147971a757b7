"""Turn a config and a dict of named tensors into a Transformer, checking every name and shape."""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import CheckpointError
from ..model import Transformer
from .mxfp4 import dequantize_mxfp4

# Buffers some exporters write that carry nothing the model needs.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


def expected_shapes(config: ModelConfig) -> dict[str, torch.Size]:
    """Name -> shape of every tensor a checkpoint of this config holds (tied lm_head excluded)."""
    with torch.device("meta"):
        model = Transformer(config)
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


def build_model(config: ModelConfig, tensors: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32,
                source: str = "checkpoint") -> Transformer:
    """A Transformer whose parameters are exactly `tensors` (cast to dtype); clear errors otherwise."""
    quant = config.quantization_config or {}
    if quant.get("quant_method") == "mxfp4":
        tensors = decode_mxfp4(tensors)
    elif quant:
        raise CheckpointError(f"{source}: quantization_config.quant_method "
                              f"{quant.get('quant_method')!r} is not supported (mxfp4 is)")
    tensors = {k: v for k, v in tensors.items() if not k.endswith(_IGNORED_SUFFIXES)}
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    shapes = expected_shapes(config)
    missing = [n for n in shapes if n not in tensors]
    if missing:
        raise CheckpointError(f"{source}: missing tensor '{missing[0]}'"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    unexpected = [n for n in tensors if n not in shapes]
    if unexpected:
        raise CheckpointError(f"{source}: unexpected tensor '{unexpected[0]}' for a {config.model_type} model"
                              + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise CheckpointError(f"{source}: tensor '{name}' has shape {tuple(tensors[name].shape)}, "
                                  f"expected {tuple(shape)} from the config")
    with torch.device("meta"):
        model = Transformer(config)
    state = {name: t.to(dtype) if t.is_floating_point() else t for name, t in tensors.items()}
    model.load_state_dict(state, strict=not config.tie_word_embeddings, assign=True)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    # Non-persistent buffers (RoPE frequencies) were created on the meta device: rebuild them.
    model.model.rotary_emb = type(model.model.rotary_emb)(config)
    return model.eval().requires_grad_(False)


def checkpoint_tensors(model: Transformer) -> dict[str, torch.Tensor]:
    """The tensors to save: the state dict without the tied output matrix."""
    state = model.state_dict()
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    return state
