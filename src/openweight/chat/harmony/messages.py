"""OpenAI-style message dicts -> harmony messages (one per channel), the form the renderer works on.

Accepted dicts (harmony's extras are plain keys):
- system: `reasoning_effort` (low|medium|high), `model_identity`, `knowledge_cutoff`, `current_date`,
  `builtin_tools` (tool namespaces such as browser or python: [{"name", "description", "tools"}]),
  `channels`; an absent key takes harmony's default, a key set to None leaves the line out. A `content` string is the gpt-oss convention for a system
  prompt: it becomes the developer message's instructions.
- developer: `instructions` (or `content`) and `tools` (OpenAI function tools).
- user: `content`, a string or a list of {"type": "text", "text": ...} parts.
- assistant: harmony form (`content` with `channel`, `recipient`, `content_type`; a content part
  {"type": "text", "text": ..., "learn": False} is rendered for training but not learnt, e.g. a
  deliberate slip in a trace that the text then catches), or OpenAI form:
  `reasoning_content`/`reasoning` (analysis), `tool_calls` (commentary calls to functions.NAME),
  `content` (the final answer, or a preamble when there are tool calls).
- tool: `content` with `name` (or the `tool_call_id` of an earlier call); author functions.NAME.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import GenerationError

DEFAULT_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."  # harmony's default
DEFAULT_CUTOFF = "2024-06"
DEFAULT_CHANNELS = ("analysis", "commentary", "final")
EFFORTS = ("low", "medium", "high")


@dataclass
class HarmonyMessage:
    """One harmony message: a header and content pieces (each piece is tokenized on its own)."""

    role: str
    content: list[str] = field(default_factory=list)
    name: str | None = None
    channel: str | None = None
    recipient: str | None = None
    content_type: str | None = None
    system: dict[str, Any] | None = None  # the settings of a system message
    developer: dict[str, Any] | None = None  # instructions and tool namespaces of a developer message
    unlearnt: frozenset[int] = frozenset()  # content pieces that training shows but does not learn

    @property
    def text(self) -> str:
        return "".join(self.content)


def _text_parts(content: Any, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                raise GenerationError(f"{where}: content parts must be text, got {part!r}")
        return parts
    raise GenerationError(f"{where}: content must be a string or a list of text parts")


def _unlearnt_parts(content: Any) -> frozenset[int]:
    """The indices of content parts marked {"learn": False}."""
    if not isinstance(content, list):
        return frozenset()
    return frozenset(i for i, part in enumerate(content) if isinstance(part, dict) and part.get("learn") is False)


def function_tool(tool: dict, where: str) -> dict:
    """{"name", "description", "parameters"} of an OpenAI function tool (nested or flat form)."""
    spec = tool.get("function", tool) if isinstance(tool, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
        raise GenerationError(f"{where}: a tool needs a 'name' (OpenAI form: "
                              "{'type': 'function', 'function': {'name': ...}})")
    return {"name": spec["name"], "description": spec.get("description") or "",
            "parameters": spec.get("parameters")}


def _system(message: dict, where: str) -> HarmonyMessage:
    settings = {
        "model_identity": message.get("model_identity", DEFAULT_IDENTITY),
        "knowledge_cutoff": message.get("knowledge_cutoff", DEFAULT_CUTOFF),
        "current_date": message.get("current_date"),
        "reasoning_effort": message.get("reasoning_effort", "medium"),
        "channels": list(message.get("channels", DEFAULT_CHANNELS) or []),
        "channel_required": message.get("channel_required", True),
        "builtin_tools": [dict(ns) for ns in message.get("builtin_tools") or []],
    }
    effort = settings["reasoning_effort"]
    if effort is not None:
        effort = str(effort).lower()
        if effort not in EFFORTS:
            raise GenerationError(f"{where}: reasoning_effort must be low, medium or high, got {effort!r}")
        settings["reasoning_effort"] = effort
    for ns in settings["builtin_tools"]:
        if not isinstance(ns, dict) or not isinstance(ns.get("name"), str):
            raise GenerationError(f"{where}: builtin_tools entries are namespaces "
                                  "{'name': ..., 'description': ..., 'tools': [...]}")
        ns["tools"] = [function_tool(t, where) for t in ns.get("tools") or []]
    return HarmonyMessage("system", system=settings)


def _developer(instructions: str | None, tools: list | None, where: str) -> HarmonyMessage:
    namespaces = {}
    if tools is not None:
        namespaces["functions"] = {"name": "functions", "description": None,
                                   "tools": [function_tool(t, where) for t in tools]}
    return HarmonyMessage("developer", developer={"instructions": instructions, "tools": namespaces})


def _qualified(name: str) -> str:
    return name if "." in name else "functions." + name


def to_harmony(messages: list[dict]) -> list[HarmonyMessage]:
    """Normalize a conversation into harmony messages."""
    if not isinstance(messages, list):
        raise GenerationError("messages must be a list of dicts")
    out: list[HarmonyMessage] = []
    system_prompt: str | None = None
    developer_at: int | None = None
    call_names: dict[str, str] = {}  # tool_call_id -> function name
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or "role" not in m:
            raise GenerationError(f"{where}: a message is a dict with a 'role'")
        role = m["role"]
        if role == "system":
            out.append(_system(m, where))
            if isinstance(m.get("content"), str) and m["content"]:
                system_prompt = m["content"]
        elif role == "developer":
            instructions = m.get("instructions", m.get("content"))
            out.append(_developer(instructions, m.get("tools"), where))
            developer_at = len(out) - 1
        elif role == "user":
            out.append(HarmonyMessage("user", _text_parts(m.get("content"), where),
                                      channel=m.get("channel"), recipient=m.get("recipient")))
        elif role == "assistant":
            out += _assistant(m, where, call_names)
        elif role == "tool":
            name = m.get("name") or call_names.get(m.get("tool_call_id", ""))
            if not name:
                raise GenerationError(f"{where}: a tool message needs a 'name' or the 'tool_call_id' of a call")
            out.append(HarmonyMessage("tool", _text_parts(m.get("content"), where), name=_qualified(name),
                                      channel=m.get("channel", "commentary"),
                                      recipient=m.get("recipient", "assistant")))
        else:
            raise GenerationError(f"{where}: unknown role {role!r}")
    if system_prompt is not None:  # a system prompt is the developer's instructions in gpt-oss
        if developer_at is None:
            at = next((j + 1 for j, h in enumerate(out) if h.role == "system"), 0)
            out.insert(at, _developer(system_prompt, None, "system"))
        elif out[developer_at].developer["instructions"] is None:
            out[developer_at].developer["instructions"] = system_prompt
    return out


def _assistant(m: dict, where: str, call_names: dict[str, str]) -> list[HarmonyMessage]:
    if "channel" in m or "recipient" in m:  # already one harmony message
        return [HarmonyMessage("assistant", _text_parts(m.get("content"), where), name=m.get("name"),
                               channel=m.get("channel"), recipient=m.get("recipient"),
                               content_type=m.get("content_type"), unlearnt=_unlearnt_parts(m.get("content")))]
    out = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")
    if reasoning:
        out.append(HarmonyMessage("assistant", [reasoning], channel="analysis"))
    calls = m.get("tool_calls") or []
    content = _text_parts(m.get("content"), where)
    if content and "".join(content):
        out.append(HarmonyMessage("assistant", content, channel="commentary" if calls else "final"))
    for call in calls:
        fn = call.get("function", {}) if isinstance(call, dict) else {}
        if not isinstance(fn.get("name"), str):
            raise GenerationError(f"{where}: tool_calls entries need function.name")
        arguments = fn.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        if call.get("id"):
            call_names[call["id"]] = fn["name"]
        out.append(HarmonyMessage("assistant", [arguments], channel="commentary",
                                  recipient=_qualified(fn["name"]), content_type="<|constrain|>json"))
    return out
