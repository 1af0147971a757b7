"""OpenAI-style conversations map onto harmony; effort only touches the system message; training masks."""

import json
from pathlib import Path

import pytest

from openweight import harmony
from openweight.errors import GenerationError
from openweight.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
TOKENIZER = Tokenizer.from_file(DATA / "o200k_subset_tokenizer.json")
TOOLS = [{"type": "function", "function": {"name": "calculate", "description": "Arithmetic.",
                                           "parameters": {"type": "object",
                                                          "properties": {"expression": {"type": "string"}},
                                                          "required": ["expression"]}}}]


def test_reasoning_effort_changes_the_system_message_and_nothing_else():
    conversation = [{"role": "developer", "instructions": "Be brief.", "tools": TOOLS},
                    {"role": "user", "content": "What is 2+2?"},
                    {"role": "assistant", "channel": "analysis", "content": "2+2=4"},
                    {"role": "assistant", "channel": "final", "content": "4"}]
    renders = {}
    for effort in ("low", "medium", "high"):
        text = harmony.render([{"role": "system", "reasoning_effort": effort}, *conversation], for_training=True)
        system, rest = text.split("<|end|>", 1)
        renders[effort] = (system, rest)
        assert f"Reasoning: {effort}" in system
    assert len({rest for _, rest in renders.values()}) == 1
    systems = [s for s, _ in renders.values()]
    assert len(set(systems)) == 3
    assert {s.replace("Reasoning: " + e, "") for s, e in zip(systems, renders)} == \
        {systems[0].replace("Reasoning: low", "")}


def test_openai_style_messages_map_to_harmony_messages(openai_tool_conversation):
    openai_style = openai_tool_conversation
    explicit = [
        {"role": "system", "reasoning_effort": "high"},
        {"role": "developer", "instructions": "Answer tersely."},
        {"role": "user", "content": "What is 1234 * 5678?"},
        {"role": "assistant", "channel": "analysis", "content": "Big product; use the tool."},
        {"role": "assistant", "channel": "commentary", "recipient": "functions.calculate",
         "content_type": "<|constrain|>json", "content": '{"expression": "1234 * 5678"}'},
        {"role": "tool", "name": "functions.calculate", "channel": "commentary", "recipient": "assistant",
         "content": "7006652"},
        {"role": "assistant", "channel": "final", "content": "7006652"},
    ]
    for training in (False, True):
        assert harmony.render(openai_style, for_training=training) == harmony.render(explicit, for_training=training)


def test_training_mask_marks_exactly_what_the_assistant_writes():
    conversation = [{"role": "user", "content": "Hi"},
                    {"role": "assistant", "channel": "analysis", "content": "Greet back."},
                    {"role": "assistant", "channel": "final", "content": "Hello!"}]
    ids, mask = harmony.render_ids(conversation, TOKENIZER, for_training=True)
    learnt = TOKENIZER.decode([t for t, m in zip(ids, mask) if m])
    ignored = TOKENIZER.decode([t for t, m in zip(ids, mask) if not m])
    assert learnt == ("<|channel|>analysis<|message|>Greet back.<|end|>"
                      "<|start|>assistant<|channel|>final<|message|>Hello!<|return|>")
    assert ignored == "<|start|>user<|message|>Hi<|end|><|start|>assistant"
    prompt, _ = harmony.render_ids(conversation[:1], TOKENIZER)
    assert ids[: len(prompt)] == prompt and not any(mask[: len(prompt)])


def test_a_content_part_marked_not_to_learn_is_shown_but_not_learnt():
    """A trace with a deliberate slip: the slip is in the text the model reads, not in what it learns."""
    parts = [{"type": "text", "text": "2+2=4\n"}, {"type": "text", "text": "4*3=13\n", "learn": False},
             {"type": "text", "text": "13-12=1, not 0: a slip. 4*3=12"}]
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "channel": "analysis", "content": parts},
                    {"role": "assistant", "channel": "final", "content": "12"}]
    ids, mask = harmony.render_ids(conversation, TOKENIZER, for_training=True)
    plain = [*conversation[:1], {**conversation[1], "content": "".join(p["text"] for p in parts)}, conversation[2]]
    assert harmony.render(conversation, for_training=True) == harmony.render(plain, for_training=True)
    learnt = TOKENIZER.decode([t for t, m in zip(ids, mask) if m])
    assert learnt == ("<|channel|>analysis<|message|>2+2=4\n13-12=1, not 0: a slip. 4*3=12<|end|>"
                      "<|start|>assistant<|channel|>final<|message|>12<|return|>")


@pytest.mark.parametrize("messages,message", [
    ([{"role": "wizard", "content": "x"}], "unknown role 'wizard'"),
    ([{"role": "system", "reasoning_effort": "extreme"}], "reasoning_effort"),
    ([{"role": "tool", "content": "4"}], "needs a 'name'"),
    ([{"role": "developer", "tools": [{"type": "function", "function": {}}]}], "needs a 'name'"),
])
def test_bad_messages_are_named(messages, message):
    with pytest.raises(GenerationError, match=message):
        harmony.render(messages)


def test_goldens_record_the_reference_stop_tokens():
    goldens = json.loads((DATA / "harmony_goldens.json").read_text())
    names = {TOKENIZER.backend.id_to_token(i) for i in goldens["stop_tokens"]}
    assert names == {"<|end|>", "<|call|>", "<|return|>"}


def test_parse_gives_back_the_rendered_messages():
    goldens = json.loads((DATA / "harmony_goldens.json").read_text())["conversations"]
    checked = 0
    for golden in goldens:
        if "<|" in json.dumps(golden["messages"]):
            continue  # as text, content that spells special tokens reads as structure
        chat = [m for m in golden["messages"] if m["role"] not in ("system", "developer")]
        parsed = [m for m in harmony.parse(harmony.render(golden["messages"], for_training=True))
                  if m["role"] not in ("system", "developer")]
        for original, back in zip(chat, parsed, strict=True):
            content = original["content"] if isinstance(original["content"], str) else \
                "".join(p["text"] for p in original["content"])
            assert back["content"] == content and back["role"] == original["role"]
            default_channel = "commentary" if original["role"] == "tool" else None
            assert back.get("channel") == original.get("channel", default_channel)
            assert back.get("recipient") == original.get("recipient", "assistant" if original["role"] == "tool"
                                                         else None) or original.get("recipient") == "all"
        checked += 1
    assert checked >= 30
