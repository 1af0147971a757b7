"""Model output as a chat reply: reasoning, answer and tool calls, whole or as streaming deltas."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ToolCallDelta:
    index: int
    id: str
    name: str
    arguments: str  # the piece of the JSON arguments this step added


@dataclass
class ChatDelta:
    reasoning: str = ""
    content: str = ""
    tool_call: ToolCallDelta | None = None

    def __bool__(self) -> bool:
        return bool(self.reasoning or self.content or self.tool_call)


@dataclass
class ChatReply:
    reasoning: str = ""
    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)  # OpenAI form: {"id", "type", "function": {...}}
    finish_reason: str = "stop"  # "stop", "tool_calls" or "length"
    errors: list[str] = field(default_factory=list)  # what was malformed in the model's output

    def add(self, delta: ChatDelta) -> None:
        self.reasoning += delta.reasoning
        self.content += delta.content
        call = delta.tool_call
        if call is not None:
            if call.index == len(self.tool_calls):
                self.tool_calls.append({"id": call.id, "type": "function",
                                        "function": {"name": call.name, "arguments": ""}})
            self.tool_calls[call.index]["function"]["arguments"] += call.arguments
