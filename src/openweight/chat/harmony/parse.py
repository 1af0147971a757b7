"""Harmony output -> messages, one token (or text piece) at a time, never raising on bad output.

Well-formed output parses as openai-harmony parses it. Malformed output (text before <|start|>, a
header that ends without <|message|>, an unreadable header, an unknown channel, the end of the
stream inside a header) still becomes messages: the text is kept and `error` says what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .render import SPECIAL_TOKENS

ROLES = ("user", "assistant", "system", "developer", "tool")
CHANNELS = ("analysis", "commentary", "final")
STOPS = ("<|end|>", "<|call|>", "<|return|>")
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


@dataclass
class ParsedMessage:
    role: str
    content: str = ""
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    name: str | None = None
    header: str = ""  # the header as written (special tokens as their strings)
    end: str | None = None  # the token that ended it: <|end|>, <|call|>, <|return|>, or None at EOS
    error: str | None = None

    def to_dict(self) -> dict:
        out = {"role": self.role, "content": self.content}
        for key in ("channel", "recipient", "content_type", "name", "error"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Delta:
    """What one step added to the message being written."""

    text: str
    channel: str | None
    recipient: str | None
    content_type: str | None


def _take_channel(header: str) -> tuple[str, str | None, str | None]:
    """(header without the channel, channel, error)."""
    at = header.find("<|channel|>")
    if at == -1:
        return header, None, None
    rest = header[at + len("<|channel|>"):]
    value = re.match(r"[^\s<]*", rest).group(0)
    if not value:
        return header, None, "channel marker without a channel name"
    return header[:at] + rest[len(value):], value, None


def parse_header(header: str, given_role: str | None) -> ParsedMessage:
    """Read '<role>[ to=<recipient>]<|channel|><channel>[ <content_type>]' as harmony writes it."""
    def unreadable(why: str) -> ParsedMessage:
        return ParsedMessage(given_role or "assistant", channel=channel, header=header, error=why)

    text, channel, error = _take_channel(header)
    if error:
        return unreadable(error)
    text = text.strip()
    if "<|constrain|>" in text:
        text = text.replace("<|constrain|>", " <|constrain|>").strip()
    parts = text.split()
    name = None
    if given_role is not None:
        role = given_role
    elif not parts:
        return unreadable("message header has no role")
    elif parts[0] in ROLES:
        role = parts[0]
    elif len(parts) > 1 or parts[0].startswith("to="):
        role, name = "tool", parts.pop(0)
    else:
        return unreadable(f"unknown role {parts[0]!r}")
    if parts and parts[0] == role:
        parts.pop(0)
    if role == "tool" and name is None and given_role is None:
        name = "tool"
    recipient = content_type = None
    if parts:
        count, last = len(parts), parts.pop()
        if last.startswith("to="):
            recipient = last[3:]
        elif count == 1:
            recipient = last
        else:
            content_type = last
            if parts:
                recipient = parts.pop().removeprefix("to=")
    if parts:
        return unreadable(f"unexpected text in message header: {' '.join(parts)!r}")
    message = ParsedMessage(role, channel=channel, recipient=recipient, content_type=content_type, name=name,
                            header=header)
    if channel is not None and channel not in CHANNELS:
        message.error = f"unknown channel {channel!r}"
    return message


class StreamParser:
    """Feed special tokens (by their text) and text pieces; read messages and per-step deltas.

    role: the role whose header the prompt already opened ('<|start|>assistant'), or None when the
    stream starts with <|start|>.
    """

    def __init__(self, role: str | None = "assistant"):
        self.messages: list[ParsedMessage] = []
        self.current: ParsedMessage | None = None  # the message whose content is being read
        self._given_role = role
        self._header: str | None = "" if role is not None else None  # header text while reading one
        self._stray: ParsedMessage | None = None  # text outside any message

    # ---- state ---------------------------------------------------------------------------
    @property
    def channel(self) -> str | None:
        return self.current.channel if self.current else None

    @property
    def recipient(self) -> str | None:
        return self.current.recipient if self.current else None

    @property
    def in_header(self) -> bool:
        return self._header is not None

    # ---- input ---------------------------------------------------------------------------
    def feed_special(self, token: str) -> Delta | None:
        if self.current is not None:
            if token in STOPS:
                self._finish(token)
                return None
            return self.feed_text(token)  # a stray special token inside content is text
        if self._header is not None:
            if token == "<|message|>":
                self.current = parse_header(self._header, self._given_role)
                self._header, self._given_role = None, None
                return None
            if token in STOPS:  # the header ended without <|message|>: keep what it says as text
                return self._header_as_text(token)
            if token == "<|start|>":  # a new message began before this header was finished
                delta = None
                if self._header.strip():
                    delta = self._header_as_text(None, "message header interrupted by <|start|>")
                self._header, self._given_role = "", None
                return delta
            self._header += token
            return None
        if token == "<|start|>":
            self._close_stray()
            self._header = ""
            return None
        return self._stray_text(token)

    def feed_text(self, text: str) -> Delta | None:
        if not text:
            return None
        if self.current is not None:
            self.current.content += text
            return Delta(text, self.current.channel, self.current.recipient, self.current.content_type)
        if self._header is not None:
            self._header += text
            return None
        return self._stray_text(text)

    def finish(self) -> Delta | None:
        """The end of the stream: close whatever is open."""
        delta = None
        if self.current is not None:
            self._finish(None)
        elif self._header is not None and (self._header or self._given_role is None):
            delta = self._header_as_text(None, "the output ended inside a message header")
        self._header = None
        self._close_stray()
        return delta

    # ---- helpers -------------------------------------------------------------------------
    def _finish(self, end: str | None) -> None:
        self.current.end = end
        self.messages.append(self.current)
        self.current = None

    def _header_as_text(self, end: str | None, why: str = "message header ended without <|message|>") -> Delta:
        text, channel, _ = _take_channel(self._header)
        role = self._given_role or "assistant"
        words = text.split()
        if words and words[0] in (role, "assistant"):
            words.pop(0)
        message = ParsedMessage(role, " ".join(words), channel=channel, header=self._header, end=end, error=why)
        self.messages.append(message)
        self._header, self._given_role = None, None
        return Delta(message.content, channel, None, None)

    def _stray_text(self, text: str) -> Delta:
        if self._stray is None:
            self._stray = ParsedMessage("assistant", error="text outside a message (no <|start|>)")
        self._stray.content += text
        return Delta(text, None, None, None)

    def _close_stray(self) -> None:
        if self._stray is not None:
            self.messages.append(self._stray)
            self._stray = None


class TokenParser:
    """StreamParser over token ids: ordinary tokens are decoded incrementally, UTF-8-safe."""

    def __init__(self, tokenizer, role: str | None = "assistant"):
        self.tokenizer = tokenizer
        self.parser = StreamParser(role)
        self.specials = {tokenizer.token_id(t): t for t in SPECIAL_TOKENS if tokenizer.token_id(t) is not None}
        self._run: list[int] = []  # ordinary tokens since the last special token
        self._emitted = 0  # characters of the run's text already passed on

    def feed(self, token: int) -> Delta | None:
        special = self.specials.get(token)
        if special is None:
            self._run.append(token)
            text = self.tokenizer.decode(self._run)
            if text.endswith("\ufffd"):  # possibly a character whose bytes are still coming
                return None
            return self._pass(text)
        tail = self._flush()
        delta = self.parser.feed_special(special)
        return _join(tail, delta)

    def finish(self) -> Delta | None:
        return _join(self._flush(), self.parser.finish())

    @property
    def messages(self) -> list[ParsedMessage]:
        return self.parser.messages

    def _pass(self, text: str) -> Delta | None:
        new, self._emitted = text[self._emitted:], len(text)
        return self.parser.feed_text(new)

    def _flush(self) -> Delta | None:
        delta = self._pass(self.tokenizer.decode(self._run)) if self._run else None
        self._run, self._emitted = [], 0
        return delta


def _join(first: Delta | None, second: Delta | None) -> Delta | None:
    return first if second is None else second if first is None else \
        Delta(first.text + second.text, second.channel, second.recipient, second.content_type)


def parse_text(text: str, role: str | None = "assistant") -> list[ParsedMessage]:
    """Messages of harmony text in which special tokens appear as their strings."""
    parser = StreamParser(role)
    for piece in _SPECIAL_RE.split(text):
        if piece in SPECIAL_TOKENS:
            parser.feed_special(piece)
        else:
            parser.feed_text(piece)
    parser.finish()
    return parser.messages


def parse_ids(ids: list[int], tokenizer, role: str | None = "assistant") -> list[ParsedMessage]:
    parser = TokenParser(tokenizer, role)
    for token in ids:
        parser.feed(token)
    parser.finish()
    return parser.messages
