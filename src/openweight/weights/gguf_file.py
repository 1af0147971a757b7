"""GGUF files of the Llama family (llama, qwen2): metadata -> ModelConfig, tensors -> HF names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import ModelConfig
from ..errors import CheckpointError, ConfigError
from .gguf_header import GGUFTensor, HeaderError, read_header
from .lazy import LazyTensors, file_bytes

SUPPORTED_ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2"}

# GGUF tensor names -> transformers names, per layer and global.
_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_LAYER_RE = re.compile(r"^blk\.(\d+)\.(\w+)\.(weight|bias)$")


class GGUFFile:
    """An opened GGUF file: its metadata as Python values and its tensors, read lazily."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.metadata, self.tensors = read_header(self.path)
        except (HeaderError, OSError) as e:
            raise CheckpointError(f"{self.path}: not a readable GGUF file ({e})") from None

    def read(self, t: GGUFTensor, rows: slice | None = None) -> np.ndarray:
        """Tensor t's data as an array (plain values, or uint8 blocks [rows, row bytes]), read from the
        file (lazy.file_bytes); `rows`: only that slice of its first axis, read alone."""
        offset, size, shape = t.offset, t.n_bytes, t.array_shape
        if rows is not None:
            start, stop, _ = rows.indices(shape[0])
            row_bytes = size // shape[0]
            offset, size, shape = offset + start * row_bytes, max(stop - start, 0) * row_bytes, (-1, *shape[1:])
        try:
            raw = file_bytes(self.path, offset, size)
        except OSError as e:
            raise CheckpointError(f"{self.path}: tensor '{t.name}' is unreadable ({e})") from None
        return raw.view(t.array_dtype).reshape(shape)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.metadata.get(key)
        return default if value is None else value

    @property
    def architecture(self) -> str:
        return self.get("general.architecture", "")


def gguf_config(f: GGUFFile) -> ModelConfig:
    """The transformers-style config of a llama/qwen2 GGUF file."""
    arch = f.architecture
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ConfigError(f"{f.path}: GGUF architecture {arch!r} is not supported "
                          f"(supported: {', '.join(SUPPORTED_ARCHITECTURES)})")

    def need(key: str) -> Any:
        value = f.get(f"{arch}.{key}")
        if value is None:
            raise ConfigError(f"{f.path}: GGUF metadata '{arch}.{key}' is missing")
        return value

    heads = need("attention.head_count")
    hidden = need("embedding_length")
    vocab = f.get(f"{arch}.vocab_size") or len(f.get("tokenizer.ggml.tokens", []))
    raw = {
        "model_type": SUPPORTED_ARCHITECTURES[arch],
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": need("feed_forward_length"),
        "num_hidden_layers": need("block_count"),
        "num_attention_heads": heads,
        "num_key_value_heads": f.get(f"{arch}.attention.head_count_kv", heads),
        "head_dim": f.get(f"{arch}.attention.key_length") or hidden // heads,
        "max_position_embeddings": need("context_length"),
        "rms_norm_eps": float(need("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(f.get(f"{arch}.rope.freq_base", 10000.0)),
        "tie_word_embeddings": "output.weight" not in f.tensors,
        "bos_token_id": f.get("tokenizer.ggml.bos_token_id"),
        "eos_token_id": f.get("tokenizer.ggml.eos_token_id"),
        "pad_token_id": f.get("tokenizer.ggml.padding_token_id"),
    }
    scaling = f.get(f"{arch}.rope.scaling.type")
    if scaling == "linear":
        raw["rope_scaling"] = {"rope_type": "linear", "factor": float(need("rope.scaling.factor"))}
    elif scaling == "yarn":
        raw["rope_scaling"] = {"rope_type": "yarn", "factor": float(need("rope.scaling.factor")),
                               "original_max_position_embeddings":
                                   need("rope.scaling.original_context_length")}
    elif scaling not in (None, "none"):
        raise ConfigError(f"{f.path}: GGUF rope scaling {scaling!r} is not supported")
    return ModelConfig.from_dict(raw)


def _unpermute_rotary(w: torch.Tensor, heads: int) -> torch.Tensor:
    """Undo llama.cpp's reordering of Q/K rows (interleaved rotary pairs -> two halves per head)."""
    rows = w.shape[0]
    # Per head, llama.cpp stores the rows as [half, 2]; transformers as [2, half].
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).transpose(1, 2).reshape(w.shape)


def _shape(t) -> torch.Size:
    return torch.Size(int(d) for d in reversed(t.shape))  # GGUF lists the fastest axis first


def _dequantize(f: GGUFFile, t) -> torch.Tensor:
    import gguf

    try:
        data = gguf.quants.dequantize(f.read(t), t.tensor_type)
    except NotImplementedError:
        raise CheckpointError(f"{f.path}: GGUF tensor '{t.name}' has type {t.tensor_type.name}, "
                              "which openweight cannot decode yet") from None
    return torch.from_numpy(np.asarray(data, dtype=np.float32).reshape(_shape(t)))


def _hf_name(f: GGUFFile, name: str) -> str | None:
    """The transformers name of a GGUF tensor; None for one openweight has no use for."""
    m = _LAYER_RE.match(name)
    if m:
        layer, part, kind = m.groups()
        if part not in _LAYER_NAMES:
            raise CheckpointError(f"{f.path}: unexpected GGUF tensor '{name}'")
        return f"model.layers.{layer}.{_LAYER_NAMES[part]}.{kind}"
    base, _, kind = name.rpartition(".")
    if base not in _GLOBAL_NAMES:
        if name == "rope_freqs.weight":
            return None  # llama.cpp's own copy of the Llama 3 frequency factors
        raise CheckpointError(f"{f.path}: unexpected GGUF tensor '{name}'")
    return f"{_GLOBAL_NAMES[base]}.{kind}"


def _rotary_heads(config: ModelConfig, hf: str) -> int | None:
    """Heads whose Q/K rows llama.cpp reordered, for the tensors it reordered."""
    if config.model_type != "llama":
        return None
    if hf.endswith("self_attn.q_proj.weight"):
        return config.num_attention_heads
    if hf.endswith("self_attn.k_proj.weight"):
        return config.num_key_value_heads
    return None


def gguf_tensors(f: GGUFFile, config: ModelConfig, shapes_only: frozenset[str] = frozenset()) -> LazyTensors:
    """All tensors under their transformers names, each decoded to float32 when read; those named in
    shapes_only read as meta tensors (shape only), for a caller that builds them from the raw blocks."""
    where = {hf: t for t in f.tensors.values() if (hf := _hf_name(f, t.name)) is not None}

    def read(hf: str) -> torch.Tensor:
        if hf in shapes_only:
            return torch.empty(_shape(where[hf]), device="meta")
        w = _dequantize(f, where[hf])
        heads = _rotary_heads(config, hf)
        return w if heads is None else _unpermute_rotary(w, heads)

    return LazyTensors({hf: _shape(t) for hf, t in where.items()}, read)


QUANTIZED_BLOCKS = ("Q4_1", "Q8_0")


class FileRows:
    """A quantized tensor's raw blocks, uint8 [rows, row bytes], read from the file when made an array
    (np.asarray), or a slice of rows at a time (rows[a:b], a tensor), with llama.cpp's Q/K row order
    undone: rows move whole, blocks and all."""

    def __init__(self, f: GGUFFile, t, heads: int | None):
        self.f, self.t, self.heads = f, t, heads
        self.shape = t.array_shape

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = self.f.read(self.t)
        if self.heads is not None:
            rows = _unpermute_rotary(torch.from_numpy(rows), self.heads).numpy()
        return rows if dtype is None else rows.astype(dtype)

    def __getitem__(self, rows: slice) -> torch.Tensor:
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError(f"FileRows takes a slice of rows, got {rows!r}")
        if self.heads is not None:  # (attention's Q and K: rows reorder across the whole tensor)
            return torch.from_numpy(np.asarray(self))[rows]
        return torch.from_numpy(self.f.read(self.t, rows))


def gguf_quantized_blocks(f: GGUFFile, config: ModelConfig) -> dict[str, tuple[str, FileRows]]:
    """The Q4_1 and Q8_0 tensors as their raw blocks (FileRows) with their type, under their
    transformers names, so that quantized layers take them as they are (quant.Int4Linear.from_q4_1,
    quant.Int8Linear.from_q8_0). A tied output layer gets the embedding's blocks."""
    out = {}
    for name, t in f.tensors.items():
        hf = _hf_name(f, name)
        kind = t.tensor_type.name
        if hf is None or kind not in QUANTIZED_BLOCKS:
            continue
        out[hf] = kind, FileRows(f, t, _rotary_heads(config, hf))
    if config.tie_word_embeddings and "model.embed_tokens.weight" in out:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out
