"""response_format json_object / json_schema: the answer is kept valid JSON as it is generated.

The model reasons freely; once it writes its answer (harmony's final channel, or a template model's
whole reply), only tokens that continue a JSON object may be sampled, and the reply may end only when
the object is whole. Among the most likely `candidates` tokens the first valid ones are kept.
"""

from __future__ import annotations

import torch

from ..chat.harmony import SPECIAL_TOKENS, TokenParser
from ..chat.json_prefix import JSONPrefix


class JSONAnswer:
    """An engine constraint (allowed(logits) before each draw, accept(token) after it)."""

    def __init__(self, tokenizer, harmony: bool, end_ids: set[int], candidates: int = 64):
        self.tokenizer, self.candidates, self.end_ids = tokenizer, candidates, set(end_ids)
        self.parser = TokenParser(tokenizer) if harmony else None
        self.json = JSONPrefix(object_only=True)
        specials = {tokenizer.token_id(t) for t in SPECIAL_TOKENS} | set(end_ids)
        self.specials = {t for t in specials if t is not None}
        if harmony:  # the final message may end with <|end|> or <|return|> only
            self.end_ids |= {tokenizer.token_id("<|end|>")}
        self._texts: dict[int, str] = {}

    def _text(self, token: int) -> str:
        if token not in self._texts:
            self._texts[token] = self.tokenizer.decode([token])
        return self._texts[token]

    @property
    def answering(self) -> bool:
        if self.parser is None:
            return True
        current = self.parser.parser.current
        return current is not None and current.channel == "final"

    def _valid(self, token: int) -> bool:
        if token in self.end_ids:
            return self.json.complete
        if token in self.specials:
            return False
        return self.json.copy().feed(self._text(token))

    def allowed(self, logits: torch.Tensor) -> torch.Tensor:
        """logits [vocab] with every token that would break the JSON answer set to -inf."""
        if not self.answering:
            return logits
        order = torch.argsort(logits, descending=True).tolist()
        keep = [t for t in order[:self.candidates] if self._valid(t)]
        if not keep:  # rare: look further down the list for the first token that fits
            keep = next(([t] for t in order[self.candidates:] if self._valid(t)), order[:1])
        masked = torch.full_like(logits, float("-inf"))
        index = torch.tensor(keep)
        masked[index] = logits[index]
        return masked

    def accept(self, token: int) -> None:
        if self.answering and token not in self.specials:
            self.json.feed(self._text(token))
        if self.parser is not None:
            self.parser.feed(token)
