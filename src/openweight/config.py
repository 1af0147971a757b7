"""ModelConfig <-> config.json, with the field names `transformers` uses for each model type."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "gpt_oss")
ROPE_TYPES = ("default", "linear", "llama3", "yarn")

# Defaults of `transformers` for fields a config.json may leave out, per model type.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": dict(
        rms_norm_eps=1e-6, max_position_embeddings=2048, attention_bias=False, mlp_bias=False,
        tie_word_embeddings=False, rope_theta=10000.0, hidden_act="silu",
    ),
    "qwen2": dict(
        rms_norm_eps=1e-6, max_position_embeddings=32768, attention_bias=True, mlp_bias=False, num_key_value_heads=32,
        tie_word_embeddings=False, rope_theta=10000.0, hidden_act="silu",
    ),
    "gpt_oss": dict(
        rms_norm_eps=1e-5, max_position_embeddings=131072, attention_bias=True, mlp_bias=False,
        tie_word_embeddings=False, rope_theta=150000.0, hidden_act="silu", head_dim=64, num_key_value_heads=8,
        num_local_experts=128, num_experts_per_tok=4, sliding_window=128,
        swiglu_alpha=1.702, swiglu_limit=7.0,
        rope_scaling={"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
                      "truncate": False, "original_max_position_embeddings": 4096},
    ),
}

_REQUIRED = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")


@dataclass
class ModelConfig:
    """The architecture of one model; every field keeps the name `transformers` gives it."""

    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    max_position_embeddings: int
    rope_theta: float
    # Everything of rope_scaling / rope_parameters except rope_theta; rope_type "default" when unscaled.
    rope_scaling: dict[str, Any] = field(default_factory=lambda: {"rope_type": "default"})
    attention_bias: bool = False
    mlp_bias: bool = False
    tie_word_embeddings: bool = False
    hidden_act: str = "silu"
    # "full_attention" or "sliding_attention" for each layer.
    layer_types: list[str] | None = None
    sliding_window: int | None = None
    # Mixture of experts (gpt_oss).
    num_local_experts: int = 0
    num_experts_per_tok: int = 0
    swiglu_alpha: float = 1.702
    swiglu_limit: float = 7.0
    bos_token_id: int | list[int] | None = None
    eos_token_id: int | list[int] | None = None
    pad_token_id: int | None = None
    # Fields we do not interpret (architectures, torch dtype, quantization_config, ...), kept verbatim.
    extra: dict[str, Any] = field(default_factory=dict)
    # How the file spelt RoPE: "rope_parameters" (transformers >= 5) or "rope_scaling" (rope_theta beside it).
    rope_key: str = "rope_parameters"

    def __post_init__(self) -> None:
        self._validate()

    # ---- derived ---------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_local_experts > 0

    @property
    def rope_type(self) -> str:
        return self.rope_scaling.get("rope_type", self.rope_scaling.get("type", "default"))

    def is_sliding(self, layer: int) -> bool:
        return self.layer_types is not None and self.layer_types[layer] == "sliding_attention"

    @property
    def quantization_config(self) -> dict[str, Any] | None:
        return self.extra.get("quantization_config")

    # ---- validation ------------------------------------------------------------------------
    def _validate(self) -> None:
        def bad(name: str, why: str) -> ConfigError:
            return ConfigError(f"config field '{name}': {why}")

        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise bad("model_type", f"unsupported value {self.model_type!r}; openweight supports "
                                    f"{', '.join(SUPPORTED_MODEL_TYPES)}")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise bad(name, f"must be a positive integer, got {value!r}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise bad("num_key_value_heads", f"{self.num_key_value_heads} does not divide "
                                             f"num_attention_heads={self.num_attention_heads}")
        if self.hidden_act != "silu":
            raise bad("hidden_act", f"only 'silu' is supported, got {self.hidden_act!r}")
        if self.rope_type not in ROPE_TYPES:
            raise bad("rope_scaling", f"rope_type {self.rope_type!r} is not one of {', '.join(ROPE_TYPES)}")
        if self.layer_types is not None:
            if len(self.layer_types) != self.num_hidden_layers:
                raise bad("layer_types", f"has {len(self.layer_types)} entries for "
                                         f"num_hidden_layers={self.num_hidden_layers}")
            unknown = set(self.layer_types) - {"full_attention", "sliding_attention"}
            if unknown:
                raise bad("layer_types", f"unknown layer type(s) {sorted(unknown)}")
            if "sliding_attention" in self.layer_types and not self.sliding_window:
                raise bad("sliding_window", "layer_types has sliding_attention layers but no window")
        if self.model_type == "gpt_oss":
            if self.num_local_experts <= 0:
                raise bad("num_local_experts", "gpt_oss needs at least one expert")
            if not 0 < self.num_experts_per_tok <= self.num_local_experts:
                raise bad("num_experts_per_tok", f"must be in 1..{self.num_local_experts}, "
                                                 f"got {self.num_experts_per_tok}")

    # ---- dict / json -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        """Build from a config.json dict as `transformers` writes it (either RoPE spelling)."""
        if not isinstance(raw, dict):
            raise ConfigError("config must be a JSON object")
        model_type = raw.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ConfigError(f"config field 'model_type': unsupported value {model_type!r}; "
                              f"openweight supports {', '.join(SUPPORTED_MODEL_TYPES)}")
        for name in _REQUIRED:
            if name not in raw:
                raise ConfigError(f"config field '{name}' is missing")
        data = {**copy.deepcopy(_DEFAULTS[model_type]), **copy.deepcopy(raw)}

        rope_key = "rope_parameters" if "rope_parameters" in raw else "rope_scaling"
        rope = data.pop("rope_parameters", None) or data.pop("rope_scaling", None) or {}
        data.pop("rope_scaling", None)
        rope = dict(rope)
        if "rope_theta" in rope:
            data["rope_theta"] = rope.pop("rope_theta")
        if "type" in rope and "rope_type" not in rope:
            rope["rope_type"] = rope.pop("type")
        rope.setdefault("rope_type", "default")
        data["rope_scaling"] = rope
        data["rope_key"] = rope_key

        if data.get("num_key_value_heads") is None:
            data["num_key_value_heads"] = data["num_attention_heads"]
        if data.get("head_dim") is None:
            data["head_dim"] = data["hidden_size"] // data["num_attention_heads"]
        if "intermediate_size" not in data:
            raise ConfigError("config field 'intermediate_size' is missing")
        if model_type == "gpt_oss" and data.get("layer_types") is None:
            data["layer_types"] = ["sliding_attention" if i % 2 == 0 else "full_attention"
                                   for i in range(data["num_hidden_layers"])]
        if model_type == "qwen2" and data.get("use_sliding_window"):
            raise ConfigError("config field 'use_sliding_window': Qwen2 sliding-window layers are not supported")

        known = {f.name for f in fields(cls)} - {"extra", "rope_key"}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["extra"] = {k: v for k, v in data.items() if k not in known and k != "rope_key"}
        kwargs["rope_key"] = rope_key
        try:
            return cls(**kwargs)
        except TypeError as e:  # a field of the wrong JSON type reached a comparison
            raise ConfigError(f"config has a field of the wrong type: {e}") from None

    def to_dict(self) -> dict[str, Any]:
        """The config.json dict, in the RoPE spelling the config was read with."""
        out: dict[str, Any] = dict(copy.deepcopy(self.extra))
        for f in fields(self):
            if f.name in ("extra", "rope_key", "rope_scaling", "rope_theta"):
                continue
            value = getattr(self, f.name)
            if f.name in ("layer_types", "sliding_window") and value is None and self.model_type != "gpt_oss":
                continue
            if f.name in ("num_local_experts", "num_experts_per_tok", "swiglu_alpha", "swiglu_limit") \
                    and not self.is_moe:
                continue
            out[f.name] = copy.deepcopy(value)
        if self.rope_key == "rope_parameters":
            out["rope_parameters"] = {**self.rope_scaling, "rope_theta": self.rope_theta}
        else:
            out["rope_theta"] = self.rope_theta
            out["rope_scaling"] = None if self.rope_type == "default" else dict(self.rope_scaling)
        return dict(sorted(out.items()))

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        try:
            return cls.from_dict(raw)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    def save(self, path: str | Path) -> None:
        from .weights.atomic import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")
