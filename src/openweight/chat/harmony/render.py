"""Harmony messages -> segments (special tokens and separately tokenized text) -> text or token ids."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import GenerationError
from .messages import HarmonyMessage, to_harmony
from .typescript import tools_section

SPECIAL_TOKENS = ("<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|return|>",
                  "<|call|>", "<|endoftext|>")
CONSTRAIN = "<|constrain|>"


@dataclass
class Segment:
    """A special token, or a piece of text tokenized on its own; `train` marks what the model learns."""

    text: str
    special: bool = False
    train: bool = False
    learnable: bool = True  # False: shown in training, never learnt (HarmonyMessage.unlearnt)


def system_body(settings: dict, has_function_tools: bool) -> str:
    sections = []
    top = [line for line in (settings["model_identity"],
                             None if settings["knowledge_cutoff"] is None
                             else "Knowledge cutoff: " + settings["knowledge_cutoff"],
                             None if settings["current_date"] is None
                             else "Current date: " + settings["current_date"]) if line is not None]
    if top:
        sections.append("\n".join(top))
    if settings["reasoning_effort"] is not None:
        sections.append("Reasoning: " + settings["reasoning_effort"])
    if settings["builtin_tools"]:
        sections.append(tools_section({ns["name"]: ns for ns in settings["builtin_tools"]}))
    if settings["channels"]:
        line = "# Valid channels: " + ", ".join(settings["channels"]) + "."
        if settings["channel_required"]:
            line += " Channel must be included for every message."
        if has_function_tools:
            line += "\nCalls to these tools must go to the commentary channel: 'functions'."
        sections.append(line)
    return "\n\n".join(sections)


def developer_body(developer: dict) -> str:
    sections = []
    if developer["instructions"] is not None:
        sections += ["# Instructions", developer["instructions"]]
    if developer["tools"]:
        sections.append(tools_section(developer["tools"]))
    return "\n\n".join(sections)


def _has_function_tools(messages: list[HarmonyMessage]) -> bool:
    return any(m.developer is not None and m.developer["tools"].get("functions", {}).get("tools")
               for m in messages)


def message_segments(m: HarmonyMessage, has_function_tools: bool) -> list[Segment]:
    """<|start|>author[ to=recipient][<|channel|>channel][ content_type]<|message|>content<|end or call|>"""
    segs = [Segment("<|start|>", True)]
    if m.role == "tool":
        if not m.name:
            raise GenerationError("a tool message needs the tool's name")
        segs.append(Segment(m.name))
    else:
        segs.append(Segment(m.role))
        if m.name:
            segs.append(Segment(":" + m.name))
    if m.recipient is not None and m.recipient != "all":
        segs.append(Segment(" to=" + m.recipient))
    if m.channel is not None:
        segs += [Segment("<|channel|>", True), Segment(m.channel)]
    if m.content_type is not None:
        if m.content_type.startswith(CONSTRAIN):
            segs += [Segment(" "), Segment(CONSTRAIN, True)]
            if m.content_type[len(CONSTRAIN):]:
                segs.append(Segment(m.content_type[len(CONSTRAIN):]))
        else:
            segs.append(Segment(" " + m.content_type))
    segs.append(Segment("<|message|>", True))
    if m.system is not None:
        segs.append(Segment(system_body(m.system, has_function_tools)))
    elif m.developer is not None:
        segs.append(Segment(developer_body(m.developer)))
    segs += [Segment(piece, learnable=i not in m.unlearnt) for i, piece in enumerate(m.content)]
    ends_in_call = m.role == "assistant" and m.recipient is not None
    segs.append(Segment("<|call|>" if ends_in_call else "<|end|>", True))
    return segs


def _kept(messages: list[HarmonyMessage], drop_analysis: bool) -> list[HarmonyMessage]:
    """Harmony drops earlier reasoning once an answer is final: the analysis before the first final
    message, when the conversation's last assistant message is final."""
    last_assistant = next((m for m in reversed(messages) if m.role == "assistant"), None)
    if not drop_analysis or last_assistant is None or last_assistant.channel != "final":
        return messages
    first_final = next((i for i, m in enumerate(messages) if m.channel == "final"), None)
    if first_final is None:
        return messages
    return [m for i, m in enumerate(messages) if not (i < first_final and m.channel == "analysis")]


def conversation_segments(messages: list[dict] | list[HarmonyMessage], *, for_training: bool = False,
                          drop_analysis: bool | None = None, next_role: str = "assistant") -> list[Segment]:
    """The segments of a conversation, for completion (ending '<|start|>assistant') or for training.

    drop_analysis defaults to harmony's choice for each: on for completion, off for training (the
    reasoning of the turn being learnt stays). In training, the assistant's tokens are marked, and a
    final last answer ends in <|return|>.
    """
    harmony = messages if all(isinstance(m, HarmonyMessage) for m in messages) else to_harmony(messages)
    if drop_analysis is None:
        drop_analysis = not for_training
    kept = _kept(harmony, drop_analysis)
    tools = _has_function_tools(harmony)
    segs: list[Segment] = []
    previous_role = None
    for m in kept:
        message = message_segments(m, tools)
        if m.role == "assistant":
            # The prompt supplies '<|start|>assistant' at the start of the assistant's turn; the
            # model writes everything after it, including the headers of its later messages.
            first = 2 if previous_role != "assistant" else 0
            for seg in message[first:]:
                seg.train = seg.learnable
        segs += message
        previous_role = m.role
    if for_training:
        if kept and kept[-1].role == "assistant" and kept[-1].channel == "final":
            segs[-1] = Segment("<|return|>", True, True)
        return segs
    return segs + [Segment("<|start|>", True), Segment(next_role)]


def segments_text(segments: list[Segment]) -> str:
    return "".join(s.text for s in segments)


def segments_ids(segments: list[Segment], tokenizer) -> tuple[list[int], list[bool]]:
    """Token ids and the training mask; text pieces never turn into special tokens."""
    ids: list[int] = []
    mask: list[bool] = []
    for seg in segments:
        if seg.special:
            token = tokenizer.token_id(seg.text)
            if token is None:
                raise GenerationError(f"the tokenizer has no harmony special token {seg.text}")
            piece = [token]
        else:
            piece = tokenizer.encode_plain(seg.text)
        ids += piece
        mask += [seg.train] * len(piece)
    return ids, mask
