"""How a model converses: harmony, or its own Jinja template (with <think> reasoning when it has it).

A format turns messages into prompt ids and decodes generated tokens into ChatDeltas.
"""

from __future__ import annotations

from ..engine.generate import TextStream
from ..errors import GenerationError
from .harmony import TokenParser, render_ids
from .reply import ChatDelta, ChatReply, ToolCallDelta
from .template import render_chat
from .think import ThinkParser

HARMONY_MARKERS = ("<|start|>", "<|message|>", "<|channel|>")


def with_settings(messages: list[dict], reasoning_effort: str | None, tools: list[dict] | None) -> list[dict]:
    """The conversation with the effort set on its system message and the tools on its developer message."""
    messages = [dict(m) for m in messages]
    if reasoning_effort is not None:
        system = next((m for m in messages if m.get("role") == "system"), None)
        if system is None:
            messages.insert(0, {"role": "system", "reasoning_effort": reasoning_effort})
        else:
            system["reasoning_effort"] = reasoning_effort
    if tools:
        developer = next((m for m in messages if m.get("role") == "developer"), None)
        if developer is None:
            at = 1 if messages and messages[0].get("role") == "system" else 0
            messages.insert(at, {"role": "developer", "tools": list(tools)})
        else:
            developer["tools"] = list(developer.get("tools") or []) + list(tools)
    return messages


class HarmonyDecoder:
    """Generated harmony tokens -> deltas: analysis is reasoning, final (and stray text) the answer,
    commentary to=functions.X a tool call."""

    def __init__(self, tokenizer):
        self.parser = TokenParser(tokenizer, role="assistant")
        self.reply = ChatReply()
        self._call_ids: dict[int, int] = {}  # message index -> tool call index

    def feed(self, token: int) -> ChatDelta:
        index = len(self.parser.messages)
        return self._route(index, self.parser.feed(token))

    @property
    def in_reasoning(self) -> bool:
        """Whether the model is writing its analysis now (for counting reasoning tokens)."""
        return self.parser.parser.channel == "analysis"

    def finish(self, finish_reason: str) -> tuple[ChatDelta, ChatReply]:
        delta = self._route(len(self.parser.messages), self.parser.finish())
        self.reply.errors = [m.error for m in self.parser.messages if m.error]
        self.reply.finish_reason = "tool_calls" if self.reply.tool_calls else finish_reason
        return delta, self.reply

    def _route(self, index: int, d) -> ChatDelta:
        if d is None or not d.text:
            return ChatDelta()
        if d.recipient is not None and d.recipient.startswith("functions."):
            if index not in self._call_ids:
                self._call_ids[index] = len(self._call_ids)
            n = self._call_ids[index]
            delta = ChatDelta(tool_call=ToolCallDelta(n, f"call_{n}", d.recipient.removeprefix("functions."),
                                                      d.text))
        elif d.channel == "analysis":
            delta = ChatDelta(reasoning=d.text)
        else:
            delta = ChatDelta(content=d.text)
        self.reply.add(delta)
        return delta


class TemplateDecoder:
    """Text of a template model -> deltas; <think>...</think> becomes reasoning when the model has it."""

    def __init__(self, tokenizer, think: bool, in_reasoning: bool):
        self.text = TextStream(tokenizer)
        self.think = ThinkParser(in_reasoning) if think else None
        self.reply = ChatReply()

    def feed(self, token: int) -> ChatDelta:
        return self._route(self.text.push(token))

    @property
    def in_reasoning(self) -> bool:
        return self.think is not None and self.think.in_reasoning

    def finish(self, finish_reason: str) -> tuple[ChatDelta, ChatReply]:
        delta = self._route(self.text.flush())
        if self.think is not None:
            tail = self.think.finish()
            self.reply.add(ChatDelta(tail.reasoning, tail.content))
            delta = ChatDelta(delta.reasoning + tail.reasoning, delta.content + tail.content)
        self.reply.finish_reason = finish_reason
        return delta, self.reply

    def _route(self, text: str) -> ChatDelta:
        if self.think is None:
            delta = ChatDelta(content=text)
        else:
            split = self.think.feed(text)
            delta = ChatDelta(split.reasoning, split.content)
        self.reply.add(delta)
        return delta


class ChatFormat:
    """The conversation format of one tokenizer."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.harmony = all(tokenizer.token_id(t) is not None for t in HARMONY_MARKERS)
        template = tokenizer.chat_template or ""
        self.think = not self.harmony and ("<think>" in template or tokenizer.token_id("<think>") is not None)

    @property
    def name(self) -> str:
        return "harmony" if self.harmony else "think" if self.think else "template"

    def prompt(self, messages: list[dict], reasoning_effort: str | None = None,
               tools: list[dict] | None = None) -> list[int]:
        if self.harmony:
            return render_ids(with_settings(messages, reasoning_effort, tools), self.tokenizer)[0]
        tok = self.tokenizer
        extra = {"tools": tools} if tools else {}
        if reasoning_effort is not None:  # templates that know it read it; others ignore it
            extra["reasoning_effort"] = reasoning_effort
        text = render_chat(tok.chat_template, messages, bos_token=tok.bos_token, eos_token=tok.eos_token, **extra)
        return tok.encode(text, add_special_tokens=False)

    def stop_ids(self) -> set[int]:
        if self.harmony:  # <|end|> only ends a message; the turn ends at <|return|> or <|call|>
            return {self.tokenizer.token_id(t) for t in ("<|return|>", "<|call|>")}
        return set()

    def tool_call_prefix(self, name: str | None) -> list[int]:
        """Tokens that start the assistant's reply as a call to functions.<name> (any function if None),
        appended to a prompt to force a tool call. Harmony only: templates have no common call syntax."""
        if not self.harmony:
            raise GenerationError("forcing a tool call (tool_choice 'required' or a named function) needs a "
                                  "harmony model")
        tok = self.tokenizer
        if name is None:
            return tok.encode_plain(" to=functions.")
        return [*tok.encode_plain(f" to=functions.{name}"), tok.token_id("<|channel|>"),
                *tok.encode_plain("commentary "), tok.token_id("<|constrain|>"), *tok.encode_plain("json"),
                tok.token_id("<|message|>")]

    def decoder(self, prompt: list[int]):
        """A decoder for the reply to `prompt` (a prompt ending in <think> starts inside the reasoning)."""
        if self.harmony:
            return HarmonyDecoder(self.tokenizer)
        in_reasoning = self.think and self.tokenizer.decode(prompt[-4:]).rstrip().endswith("<think>")
        return TemplateDecoder(self.tokenizer, self.think, in_reasoning)
