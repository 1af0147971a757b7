"""Regenerate tests/chat/data/harmony_goldens.json from the reference, openai-harmony.

    pip install -e '.[goldens]' tiktoken
    TIKTOKEN_ENCODINGS_BASE=../shared/vocab python tools/harmony_goldens.py

For each conversation of tools/harmony_conversations.py the goldens hold the reference's
token ids and text for completion and training renders, and its parse of the assistant's reply.
Beside them it writes a small tokenizer.json: the o200k pieces those goldens use (with every merge
that builds them, at their real ids) and the harmony special tokens, so the tests can tokenize the
same texts exactly without the 3.6 MB vocabulary file or the network.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import openai_harmony as oh
import tiktoken
import tiktoken_ext.openai_public as openai_public
from tokenizers import Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as Backend

DATA = Path(__file__).resolve().parent.parent / "tests" / "chat" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harmony_conversations import CONVERSATIONS  # noqa: E402

HARMONY = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
SPECIALS = {"<|startoftext|>": 199998, "<|endoftext|>": 199999, "<|return|>": 200002, "<|constrain|>": 200003,
            "<|channel|>": 200005, "<|start|>": 200006, "<|end|>": 200007, "<|message|>": 200008,
            "<|call|>": 200012}


# ---- our message dicts -> openai_harmony objects (explicit harmony form only) -------------------

def _namespace(ns: dict) -> oh.ToolNamespaceConfig:
    tools = [oh.ToolDescription.new(t["name"], t.get("description", ""), t.get("parameters"))
             for t in (t.get("function", t) for t in ns.get("tools", []))]
    return oh.ToolNamespaceConfig(name=ns["name"], description=ns.get("description"), tools=tools)


def to_reference(messages: list[dict]) -> oh.Conversation:
    out = []
    for m in messages:
        role = m["role"]
        if role == "system":
            content = oh.SystemContent.new()
            if "model_identity" in m:
                content.model_identity = m["model_identity"]
            if "knowledge_cutoff" in m:
                content.knowledge_cutoff = m["knowledge_cutoff"]
            if "current_date" in m:
                content.conversation_start_date = m["current_date"]
            if "reasoning_effort" in m:
                effort = m["reasoning_effort"]
                content.reasoning_effort = None if effort is None else oh.ReasoningEffort(effort.capitalize())
            if "channels" in m:
                content.channel_config = oh.ChannelConfig(valid_channels=m["channels"],
                                                          channel_required=m.get("channel_required", True))
            for ns in m.get("builtin_tools", []):
                content = content.with_tools(_namespace(ns))
            out.append(oh.Message.from_role_and_content(oh.Role.SYSTEM, content))
        elif role == "developer":
            content = oh.DeveloperContent.new()
            if m.get("instructions") is not None:
                content = content.with_instructions(m["instructions"])
            if "tools" in m:
                content = content.with_function_tools(
                    [oh.ToolDescription.new(t["function"]["name"], t["function"].get("description", ""),
                                            t["function"].get("parameters")) for t in m["tools"]])
            out.append(oh.Message.from_role_and_content(oh.Role.DEVELOPER, content))
        else:
            parts = m["content"] if isinstance(m["content"], list) else [m["content"]]
            texts = [oh.TextContent(text=p if isinstance(p, str) else p["text"]) for p in parts]
            name = m.get("name")
            if role == "tool" and "." not in name:
                name = "functions." + name
            msg = oh.Message.from_author_and_content(oh.Author(role=oh.Role(role), name=name), texts[0])
            for extra in texts[1:]:
                msg = msg.adding_content(extra)
            channel = m.get("channel", "commentary" if role == "tool" else None)
            recipient = m.get("recipient", "assistant" if role == "tool" else None)
            if channel is not None:
                msg = msg.with_channel(channel)
            if recipient is not None:
                msg = msg.with_recipient(recipient)
            if m.get("content_type") is not None:
                msg = msg.with_content_type(m["content_type"])
            out.append(msg)
    return oh.Conversation.from_messages(out)


def parsed(messages: list[oh.Message]) -> list[dict]:
    return [{"role": m.author.role.value, "name": m.author.name, "channel": m.channel,
             "recipient": m.recipient, "content_type": m.content_type,
             "content": "".join(c.text for c in m.content)} for m in messages]


def rendered(ids: list[int]) -> dict:
    return {"ids": ids, "text": HARMONY.decode_utf8(ids)}


def golden(name: str, messages: list[dict]) -> dict:
    convo = to_reference(messages)
    keep = oh.RenderConversationConfig(auto_drop_analysis=False)
    out = {
        "name": name,
        "messages": messages,
        "completion": rendered(HARMONY.render_conversation_for_completion(convo, oh.Role.ASSISTANT)),
        "completion_keep_analysis": rendered(
            HARMONY.render_conversation_for_completion(convo, oh.Role.ASSISTANT, keep)),
        "training": rendered(HARMONY.render_conversation_for_training(convo, keep)),
        "training_drop_analysis": rendered(HARMONY.render_conversation_for_training(convo)),
    }
    # The assistant's reply at the end of the conversation, as the model would write it after the
    # prompt's '<|start|>assistant': what parsing must turn back into these messages.
    tail = len(messages)
    while tail > 0 and messages[tail - 1]["role"] == "assistant":
        tail -= 1
    if tail < len(messages):
        reply = HARMONY.render_conversation_for_training(
            oh.Conversation.from_messages(convo.messages[tail:]), keep)[2:]
        out["reply"] = {"ids": reply, "messages": parsed(HARMONY.parse_messages_from_completion_tokens(
            reply, oh.Role.ASSISTANT))}
    return out


# ---- a small exact tokenizer for the goldens -------------------------------------------------

def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte, as byte-level BPE vocabularies use."""
    as_is = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in as_is]
    return {**{b: chr(b) for b in as_is}, **{b: chr(256 + n) for n, b in enumerate(others)}}


def _split(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two tokens BPE joins last to make `token` (merging only lower ranks)."""
    limit = ranks[token]
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        pairs = [(ranks.get(parts[i] + parts[i + 1], limit), i) for i in range(len(parts) - 1)]
        rank, i = min(pairs)
        if rank >= limit:
            raise ValueError(f"token {token!r} is not built from lower-ranked merges")
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts[0], parts[1]


def subset_tokenizer(ids: set[int], ranks: dict[bytes, int], pattern: str) -> str:
    by_id = {rank: token for token, rank in ranks.items()}
    keep = {bytes([b]) for b in range(256)}
    todo = [by_id[i] for i in ids if i in by_id]
    while todo:
        token = todo.pop()
        if token in keep:
            continue
        keep.add(token)
        todo += _split(token, ranks)
    u = _bytes_to_unicode()
    text = lambda b: "".join(u[x] for x in b)  # noqa: E731
    # Special tokens sit in the model's vocabulary too, or `tokenizers` would give them new ids.
    vocab = {**{text(t): ranks[t] for t in keep}, **SPECIALS}
    merges = [(text(a), text(b)) for a, b in (_split(t, ranks) for t in sorted(keep, key=ranks.get)
                                              if len(t) > 1)]
    backend = Backend(models.BPE(vocab=vocab, merges=merges))
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    backend.decoder = decoders.ByteLevel()
    data = json.loads(backend.to_str())
    data["added_tokens"] = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                             "normalized": False, "special": True} for s, i in SPECIALS.items()]
    return json.dumps(data, ensure_ascii=False)


def o200k() -> tuple[dict[bytes, int], str]:
    base = Path(os.environ["TIKTOKEN_ENCODINGS_BASE"]) / "o200k_base.tiktoken"
    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda url, expected_hash=None: tiktoken.load.load_tiktoken_bpe(
        str(base), expected_hash)
    try:
        spec = openai_public.o200k_base()
    finally:
        openai_public.load_tiktoken_bpe = original
    return spec["mergeable_ranks"], spec["pat_str"]


def with_builtin_tools(messages: list[dict]) -> list[dict]:
    """Replace builtin tool names ("browser", "python") by the reference's namespace definitions."""
    out = []
    for m in messages:
        if m["role"] == "system" and m.get("builtin_tools"):
            namespaces = {"browser": oh.ToolNamespaceConfig.browser, "python": oh.ToolNamespaceConfig.python}
            m = {**m, "builtin_tools": [namespaces[n]().model_dump() for n in m["builtin_tools"]]}
        out.append(m)
    return out


def main() -> None:
    goldens = [golden(name, with_builtin_tools(messages)) for name, messages in CONVERSATIONS]
    used = set()
    for g in goldens:
        for key in ("completion", "completion_keep_analysis", "training", "training_drop_analysis", "reply"):
            if key in g:
                used |= set(g[key]["ids"])
    ranks, pattern = o200k()
    (DATA / "o200k_subset_tokenizer.json").write_text(subset_tokenizer(used, ranks, pattern))
    (DATA / "harmony_goldens.json").write_text(json.dumps(
        {"generator": f"openai-harmony {oh.__version__ if hasattr(oh, '__version__') else '0.0.8'}",
         "stop_tokens": sorted(HARMONY.stop_tokens()),
         "stop_tokens_for_assistant_actions": sorted(HARMONY.stop_tokens_for_assistant_actions()),
         "conversations": goldens}, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(goldens)} conversations, {len(used)} distinct token ids")


if __name__ == "__main__":
    main()
