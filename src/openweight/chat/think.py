"""Reasoning between <think> and </think> (DeepSeek-R1, Qwen3), split from the answer as text streams in."""

from __future__ import annotations

from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


@dataclass
class ThinkDelta:
    reasoning: str = ""
    content: str = ""


class ThinkParser:
    """Feed text pieces; get back what is reasoning and what is answer, tags removed.

    `in_reasoning=True` is for prompts that already end with "<think>" (DeepSeek-R1's template adds it),
    so the reply starts inside the reasoning. A tag split across pieces is held back until it is whole;
    whitespace between </think> and the answer is dropped.
    """

    def __init__(self, in_reasoning: bool = False):
        self.in_reasoning = in_reasoning
        self.seen_close = False
        self.pending = ""  # text that may be the start of a tag
        self.reasoning, self.content = "", ""
        self._answer_started = False

    def feed(self, text: str) -> ThinkDelta:
        delta = ThinkDelta()
        self.pending += text
        while self.pending:
            tag = CLOSE if self.in_reasoning else OPEN
            at = self.pending.find(tag)
            if at == -1:
                keep = _partial_suffix(self.pending, tag)
                self._emit(delta, self.pending[: len(self.pending) - keep])
                self.pending = self.pending[len(self.pending) - keep:]
                break
            self._emit(delta, self.pending[:at])
            self.pending = self.pending[at + len(tag):]
            if self.in_reasoning:
                self.in_reasoning, self.seen_close = False, True
            elif not self.seen_close and not self.content.strip():
                self.in_reasoning = True  # an opening tag only counts before the answer
            else:
                self._emit(delta, tag)
        return delta

    def finish(self) -> ThinkDelta:
        """Release what is held back (an unfinished tag is plain text)."""
        delta = ThinkDelta()
        self._emit(delta, self.pending)
        self.pending = ""
        return delta

    @property
    def unterminated(self) -> bool:
        """True while the reasoning has not been closed (at the end: the reply never left it)."""
        return self.in_reasoning

    def _emit(self, delta: ThinkDelta, text: str) -> None:
        if not text:
            return
        if self.in_reasoning:
            self.reasoning += text
            delta.reasoning += text
            return
        if not self._answer_started and self.seen_close:
            text = text.lstrip()
            if not text:
                return
        self._answer_started = True
        self.content += text
        delta.content += text


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `tag`."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def split_think(text: str, in_reasoning: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of a whole reply."""
    parser = ThinkParser(in_reasoning)
    parser.feed(text)
    parser.finish()
    return parser.reasoning, parser.content
