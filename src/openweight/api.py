"""The Python API: `openweight.load(...)` returns an LM that scores, generates and saves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from numpy.typing import ArrayLike

from .chat.formats import ChatFormat
from .chat.reply import ChatDelta, ChatReply
from .config import ModelConfig
from .engine.generate import TextStream, generate_ids
from .engine.sampling import SamplingParams
from .errors import CheckpointError, GenerationError
from .memory import trim_heap
from .model import Transformer
from .model.fuse import fuse_projections, is_fused
from .quant import MODES as QUANT_MODES
from .quant import is_quantized
from .quant import quantize as quantize_model
from .quant.model import kept_as_codes
from .registry import DEFAULT_MODEL, resolve
from .tokenizer import Tokenizer
from .weights.atomic import atomic_write_text
from .weights.build import build_model, checkpoint_tensors
from .weights.gguf_file import GGUFFile, gguf_config, gguf_quantized_blocks, gguf_tensors
from .weights.safetensors_dir import PICKLE_SUFFIXES, read_tensors, refuse_pickle, weight_files, write_tensors

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _as_ids(value: Any) -> list[int]:
    return [value] if isinstance(value, int) else list(value or [])


@dataclass
class GenerationConfig:
    """The part of generation_config.json openweight uses: which tokens end a reply."""

    eos_token_id: list[int] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path) -> GenerationConfig:
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{path}: not valid JSON ({e})") from None
        return cls(_as_ids(raw.get("eos_token_id")), raw)

    def to_dict(self, config: ModelConfig) -> dict[str, Any]:
        eos = self.eos_token_id[0] if len(self.eos_token_id) == 1 else self.eos_token_id
        return {**self.raw, "bos_token_id": config.bos_token_id, "eos_token_id": eos or config.eos_token_id,
                "pad_token_id": config.pad_token_id}


class LM:
    """A loaded model with its tokenizer."""

    def __init__(self, model: Transformer, tokenizer: Tokenizer | None,
                 generation_config: GenerationConfig | None = None, compile: bool = False):
        self.model, self.tokenizer, self.compile = model, tokenizer, compile
        self._chat_format: ChatFormat | None = None
        self.generation_config = generation_config or GenerationConfig(_as_ids(model.config.eos_token_id))

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def stop_token_ids(self) -> set[int]:
        ids = set(self.generation_config.eos_token_id) | set(_as_ids(self.config.eos_token_id))
        if self.tokenizer is not None and self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    # ---- scoring ---------------------------------------------------------------------------
    @torch.inference_mode()
    def logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Float32 logits [batch, seq, vocab] for a LongTensor of ids [batch, seq]."""
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
            raise GenerationError("input_ids must be a LongTensor of shape [batch, seq]")
        if input_ids.shape[1] == 0:
            raise GenerationError("input_ids is empty")
        if input_ids.shape[1] > self.config.max_position_embeddings:
            raise GenerationError(f"input of {input_ids.shape[1]} tokens exceeds the model's context of "
                                  f"{self.config.max_position_embeddings}")
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise GenerationError(f"input_ids hold ids outside the vocabulary of {self.config.vocab_size}")
        return self.model(input_ids)

    # ---- generation ------------------------------------------------------------------------
    def encode(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise GenerationError("this model has no tokenizer; pass token ids")
            return self.tokenizer.encode(prompt)
        return list(prompt)

    @property
    def chat_format(self) -> ChatFormat:
        """How this model converses: harmony, <think> reasoning, or its plain chat template."""
        if self.tokenizer is None:
            raise GenerationError("this model has no tokenizer, so it cannot chat")
        if self._chat_format is None:
            self._chat_format = ChatFormat(self.tokenizer)
        return self._chat_format

    def chat_prompt(self, messages: list[dict], reasoning_effort: str | None = None,
                    tools: list[dict] | None = None) -> list[int]:
        """Token ids of a conversation in the model's format, ready for the assistant's reply."""
        return self.chat_format.prompt(messages, reasoning_effort, tools)

    def generate(self, prompt: str | list[int] | list[str] | list[list[int]], max_new_tokens: int = 128, *,
                 temperature: float = 0.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0,
                 repetition_penalty: float = 1.0, seed: int | None = None, stop: str | list[str] | None = None,
                 stop_token_ids: list[int] | None = None, stream: bool = False):
        """Continue text or token ids.

        One prompt gives a string (or, with stream=True, an iterator of text pieces); a list of
        prompts gives a list of strings, generated as one batch.
        """
        params = SamplingParams(temperature, top_k, top_p, min_p, repetition_penalty)
        batched = isinstance(prompt, list) and bool(prompt) and not isinstance(prompt[0], int)
        prompts = [self.encode(p) for p in prompt] if batched else [self.encode(prompt)]
        if stream and batched:
            raise GenerationError("stream=True takes one prompt, not a list")
        stops = self.stop_token_ids if stop_token_ids is None else set(stop_token_ids)
        stop_strings = [stop] if isinstance(stop, str) else list(stop or [])
        steps = generate_ids(self.model, prompts, max_new_tokens, params, stops, seed, compile=self.compile)
        if self.tokenizer is None:
            raise GenerationError("this model has no tokenizer; use openweight.engine.generate.generate_ids "
                                  "to generate token ids")
        streams = [TextStream(self.tokenizer, stop_strings, stops) for _ in prompts]
        if stream:
            return self._stream(steps, streams[0])
        for tokens in steps:
            for s, token in zip(streams, tokens):
                if token is not None:
                    s.push(token)
            if all(s.done for s in streams):
                break
        texts = [s.text for s in streams]
        return texts if batched else texts[0]

    @staticmethod
    def _stream(steps: Iterator[list[int | None]], text: TextStream) -> Iterator[str]:
        for (token,) in steps:
            delta = text.push(token)
            if delta:
                yield delta
            if text.done:
                return
        tail = text.flush()
        if tail:
            yield tail

    def chat(self, messages: list[dict] | str, max_new_tokens: int = 256, *, reasoning_effort: str | None = None,
             tools: list[dict] | None = None, stream: bool = False, temperature: float = 0.0, top_k: int = 0,
             top_p: float = 1.0, min_p: float = 0.0, repetition_penalty: float = 1.0, seed: int | None = None):
        """Reply to a conversation (or one user message): a ChatReply with .reasoning, .content and
        .tool_calls; with stream=True, a ChatStream of ChatDeltas whose .reply fills in as it goes."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        params = SamplingParams(temperature, top_k, top_p, min_p, repetition_penalty)
        prompt = self.chat_prompt(messages, reasoning_effort, tools)
        stops = self.chat_format.stop_ids() | self.stop_token_ids
        steps = generate_ids(self.model, [prompt], max_new_tokens, params, stops, seed, compile=self.compile)
        chat = ChatStream(steps, self.chat_format.decoder(prompt), stops)
        return chat if stream else chat.collect()

    # ---- saving ----------------------------------------------------------------------------
    def save(self, folder: str | Path, max_shard_size: int | str = "5GB") -> None:
        """Write a Hugging Face-layout folder that `transformers.from_pretrained` loads."""
        folder = Path(folder)
        if is_quantized(self.model) or is_fused(self.model):
            raise GenerationError("this model was loaded for fast inference (quantize or compile); "
                                  "save the model loaded without them")
        folder.mkdir(parents=True, exist_ok=True)
        config = replace(self.config, extra={k: v for k, v in self.config.extra.items()
                                             if k != "quantization_config"})  # saved dense
        config.extra.setdefault("architectures", [_ARCHITECTURES[config.model_type]])
        config.extra["dtype"] = str(self.model.dtype).removeprefix("torch.")
        write_tensors(folder, checkpoint_tensors(self.model), max_shard_size)
        atomic_write_text(folder / "generation_config.json",
                          json.dumps(self.generation_config.to_dict(config), indent=2) + "\n")
        config.save(folder / "config.json")
        if self.tokenizer is not None:
            self.tokenizer.save(folder)


class ChatStream:
    """Iterate for ChatDeltas as tokens arrive; `reply` is the whole ChatReply once iteration ends."""

    def __init__(self, steps: Iterator[list[int | None]], decoder, stop_ids: set[int]):
        self._steps, self._decoder, self._stops = steps, decoder, stop_ids
        self.reply: ChatReply | None = None

    def __iter__(self) -> Iterator[ChatDelta]:
        finish_reason = "length"
        for (token,) in self._steps:
            if token in self._stops:
                finish_reason = "stop"
                break
            delta = self._decoder.feed(token)
            if delta:
                yield delta
        delta, self.reply = self._decoder.finish(finish_reason)
        if delta:
            yield delta

    def collect(self) -> ChatReply:
        for _ in self:
            pass
        return self.reply


_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "gpt_oss": "GptOssForCausalLM"}


def load(name_or_path: str | Path = DEFAULT_MODEL, dtype: str | torch.dtype = "float32",
         quantize: str | None = None, compile: bool = False, kv_cache_dtype: str | torch.dtype | None = None) -> LM:
    """Load a Hugging Face folder, a GGUF file, or a short name: 'openweight-mini' (the default, built in)
    or 'smollm2-135m'. quantize='int8' or 'int4' makes the linear layers and experts weight-only
    quantized (openweight.quant); the rest stays in `dtype`. compile=True decodes through
    compiled steps (engine.compiled). Either one fuses the q/k/v and gate/up projections (model.fuse),
    so such a model runs but cannot be saved. kv_cache_dtype: what generation keeps keys and values
    in (default: `dtype`); 'float16', as llama.cpp's default cache, halves a float32 model's cache."""
    if quantize is not None and quantize not in QUANT_MODES:
        raise GenerationError(f"quantize must be one of {', '.join(QUANT_MODES)}, got {quantize!r}")
    dtype = _dtype(dtype, "dtype")
    lm = _load(resolve(name_or_path), dtype, fast=quantize is not None or compile, quantize=quantize)
    lm.compile = compile
    lm.model.kv_cache_dtype = None if kv_cache_dtype is None else _dtype(kv_cache_dtype, "kv_cache_dtype")
    trim_heap()  # what reading the files left free in the heap
    return lm


def _dtype(value: str | torch.dtype, parameter: str) -> torch.dtype:
    """A dtype given by name or as itself, one of _DTYPES; GenerationError naming `parameter` if not."""
    if value in _DTYPES.values():
        return value
    if value not in _DTYPES:
        raise GenerationError(f"{parameter} must be one of {', '.join(_DTYPES)}, got {value!r}")
    return _DTYPES[value]


def _for_inference(quantize: str | None, blocks: dict[str, tuple[str, ArrayLike]]):
    """build_model's prepare step for a fast model: fuse the projections, then quantize, a layer at a
    time, so that the float weights of only one layer are held at once."""
    def prepare(module: torch.nn.Module, prefix: str) -> None:
        fuse_projections(module, blocks, prefix)
        if quantize is not None:
            quantize_model(module, quantize, blocks=blocks, prefix=prefix)
        trim_heap()  # the float weights and file blocks just freed: keep the peak to one layer's worth
    return prepare


def _load(path: Path, dtype: torch.dtype, fast: bool, quantize: str | None) -> LM:
    """The model at `path` (a folder, .gguf or .safetensors), fused for inference if fast."""
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            refuse_pickle(path)
        if path.suffix == ".gguf":
            f = GGUFFile(path)
            config = gguf_config(f)
            blocks = gguf_quantized_blocks(f, config) if quantize is not None else {}
            # Layers built from their file blocks alone need no float values: those read as shapes.
            model = build_model(config, gguf_tensors(f, config, kept_as_codes(blocks, quantize)), dtype, str(path),
                                _for_inference(quantize, blocks) if fast else None)
            tokenizer = Tokenizer.from_gguf(f) if f.get("tokenizer.ggml.tokens") else None
            return LM(model, tokenizer)
        if path.suffix == ".safetensors":
            path = path.parent
        else:
            raise CheckpointError(f"{path}: not a checkpoint openweight reads (a folder, .gguf or .safetensors)")
    config = ModelConfig.from_file(path / "config.json")
    # A fast model converts its tensors (fused, quantized): read them unmapped (read_tensors).
    model = build_model(config, read_tensors(weight_files(path), mapped=not fast), dtype, str(path),
                        _for_inference(quantize, {}) if fast else None)
    tokenizer = Tokenizer.from_folder(path) if (path / "tokenizer.json").exists() else None
    gen = path / "generation_config.json"
    return LM(model, tokenizer, GenerationConfig.from_file(gen) if gen.exists() else None)
