"""Tokenizers from a `tokenizer.json` folder or from GGUF metadata, both on the `tokenizers` package."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from collections.abc import Iterable

from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as Backend

from .errors import CheckpointError

# Pre-tokenizer split patterns named by GGUF's `tokenizer.ggml.pre`.
_LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                   r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_GGUF_CONTROL, _GGUF_USER_DEFINED = 3, 4


def _gguf_pre_tokenizer(pre: str):
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":
        return pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    if pre in ("llama-bpe", "llama3", "smaug-bpe"):
        pattern = _LLAMA3_PATTERN
    elif pre in ("qwen2", "deepseek-r1-qwen"):
        pattern = _QWEN2_PATTERN
    else:
        if pre not in ("gpt2", "default", ""):
            warnings.warn(f"GGUF pre-tokenizer {pre!r} is unknown to openweight; using GPT-2's rules")
        return byte_level
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


class Tokenizer:
    """Text <-> token ids, the special tokens of the model, and its chat template."""

    def __init__(self, backend: Backend, *, bos_token: str | None = None, eos_token: str | None = None,
                 chat_template: str | None = None, add_bos: bool = False):
        self.backend = backend
        self.bos_token, self.eos_token = bos_token, eos_token
        self.chat_template = chat_template
        self.add_bos = add_bos
        self._plain: Backend | None = None  # a copy that reads special-token strings as text

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """From a lone tokenizer.json (no special-token roles, no chat template)."""
        try:
            return cls(Backend.from_file(str(path)))
        except Exception as e:  # the Rust library raises plain Exception subclasses
            raise CheckpointError(f"{path}: cannot load tokenizer ({e})") from None

    @classmethod
    def from_folder(cls, folder: str | Path) -> Tokenizer:
        """From `tokenizer.json`, with `tokenizer_config.json` for special tokens and the chat template."""
        folder = Path(folder)
        backend = cls.from_file(folder / "tokenizer.json").backend
        config: dict[str, Any] = {}
        if (folder / "tokenizer_config.json").exists():
            config = json.loads((folder / "tokenizer_config.json").read_text())
        template = config.get("chat_template")
        if (folder / "chat_template.jinja").exists():
            template = (folder / "chat_template.jinja").read_text()

        def token_text(value: Any) -> str | None:
            return value.get("content") if isinstance(value, dict) else value

        return cls(backend, bos_token=token_text(config.get("bos_token")),
                   eos_token=token_text(config.get("eos_token")), chat_template=template)

    @classmethod
    def from_gguf(cls, f) -> Tokenizer:
        """From the `tokenizer.ggml.*` metadata of a GGUFFile (byte-level BPE vocabularies)."""
        kind = f.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise CheckpointError(f"{f.path}: GGUF tokenizer model {kind!r} is not supported "
                                  "(byte-level BPE, 'gpt2', is)")
        tokens: list[str] = f.get("tokenizer.ggml.tokens")
        types: list[int] = f.get("tokenizer.ggml.token_type") or [1] * len(tokens)
        merges = [tuple(m.split(" ", 1)) for m in f.get("tokenizer.ggml.merges", [])]
        vocab = {t: i for i, t in enumerate(tokens)}
        backend = Backend(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
        backend.pre_tokenizer = _gguf_pre_tokenizer(f.get("tokenizer.ggml.pre", "default"))
        backend.decoder = decoders.ByteLevel()
        backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t, kind in zip(tokens, types) if kind == _GGUF_CONTROL])
        backend.add_tokens([AddedToken(t, special=False, normalized=False)
                            for t, kind in zip(tokens, types) if kind == _GGUF_USER_DEFINED])

        def name(key: str) -> str | None:
            i = f.get(key)
            return tokens[i] if i is not None and 0 <= i < len(tokens) else None

        return cls(backend, bos_token=name("tokenizer.ggml.bos_token_id"),
                   eos_token=name("tokenizer.ggml.eos_token_id"),
                   chat_template=f.get("tokenizer.chat_template"),
                   add_bos=bool(f.get("tokenizer.ggml.add_bos_token", False)))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, special_tokens: list[str], *,
              eos_token: str | None = None, chat_template: str | None = None) -> Tokenizer:
        """A byte-level BPE tokenizer learnt from `texts`; special tokens come first, one id each.

        Digits are split one by one, so numbers tokenize the same way wherever they appear.
        """
        backend = Backend(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        backend.train_from_iterator(texts, trainer)
        return cls(backend, eos_token=eos_token, chat_template=chat_template)

    def save(self, folder: Path) -> None:
        from .weights.atomic import atomic_write_text

        atomic_write_text(folder / "tokenizer.json", self.backend.to_str())
        config = {"bos_token": self.bos_token, "eos_token": self.eos_token,
                  "chat_template": self.chat_template, "tokenizer_class": "PreTrainedTokenizerFast"}
        atomic_write_text(folder / "tokenizer_config.json",
                          json.dumps({k: v for k, v in config.items() if v is not None}, indent=2) + "\n")

    # ---- use ---------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str | None) -> int | None:
        return None if token is None else self.backend.token_to_id(token)

    @property
    def bos_token_id(self) -> int | None:
        return self.token_id(self.bos_token)

    @property
    def eos_token_id(self) -> int | None:
        return self.token_id(self.eos_token)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = self.backend.encode(text, add_special_tokens=add_special_tokens).ids
        if add_special_tokens and self.add_bos and self.bos_token_id is not None \
                and (not ids or ids[0] != self.bos_token_id):
            ids = [self.bos_token_id, *ids]
        return ids

    def encode_plain(self, text: str) -> list[int]:
        """Ids of text in which special-token strings are ordinary text, as message content must be."""
        if self._plain is None:
            self._plain = Backend.from_str(self.backend.to_str())
            self._plain.encode_special_tokens = True
        return self._plain.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)
