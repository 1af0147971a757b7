"""The exported Jinja template renders, through transformers, exactly what openweight renders."""

import json
from pathlib import Path

import pytest

from openweight import harmony
from openweight.chat.template import render_chat

DATA = Path(__file__).parent / "data"
GOLDENS = json.loads((DATA / "harmony_goldens.json").read_text())["conversations"]
TEMPLATE = harmony.chat_template()


def limits(golden) -> dict[str, str]:
    """What a Jinja template cannot reproduce for this conversation, and why (text, hf_text, tokens)."""
    why = {}
    if "1e-05" in json.dumps(golden["messages"]) or "1e16" in json.dumps(golden["messages"]):
        why["text"] = "Jinja's tojson prints floats as Python does, harmony as serde_json does"
    if any(value is None for m in golden["messages"] for value in m.values()):
        why["hf_text"] = "transformers drops message keys whose value is None"
    if "<|" in "".join(str(m.get("content")) for m in golden["messages"]):
        why["tokens"] = "content spells special tokens, which a whole-string tokenization reads as structure"
    if any(isinstance(m.get("content"), list) for m in golden["messages"]):
        why["tokens"] = "content in parts is tokenized part by part, a template yields one string"
    return why


@pytest.fixture(scope="module")
def hf_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(DATA / "o200k_subset_tokenizer.json"))


def test_most_goldens_are_expressible():
    assert sum(not limits(g) for g in GOLDENS) >= 30


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
@pytest.mark.parametrize("kind", ["completion", "training"])
def test_template_matches_renderer(golden, kind, hf_tokenizer):
    why = limits(golden)
    generation = kind == "completion"
    ours = harmony.render(golden["messages"], for_training=not generation)
    if "text" in why:
        pytest.skip(why["text"])
    assert render_chat(TEMPLATE, golden["messages"], add_generation_prompt=generation) == ours
    if "hf_text" in why:
        pytest.skip(why["hf_text"])
    text = hf_tokenizer.apply_chat_template(golden["messages"], chat_template=TEMPLATE, tokenize=False,
                                            add_generation_prompt=generation)
    assert text == ours
    if "tokens" in why:
        pytest.skip(why["tokens"])
    ids = hf_tokenizer.apply_chat_template(golden["messages"], chat_template=TEMPLATE, tokenize=True,
                                           add_generation_prompt=generation, return_dict=False)
    assert ids == golden[kind]["ids"]


TOOLS = [{"type": "function", "function": {"name": "calculate", "description": "Arithmetic.",
                                           "parameters": {"type": "object",
                                                          "properties": {"expression": {"type": "string"}},
                                                          "required": ["expression"]}}}]


@pytest.mark.parametrize("cut", [2, 4, 5])
@pytest.mark.parametrize("generation", [True, False])
def test_openai_style_with_tools_and_effort_kwargs(hf_tokenizer, cut, generation, openai_tool_conversation):
    from openweight.chat.formats import with_settings

    messages = openai_tool_conversation[:cut]
    expected = harmony.render(with_settings(messages, "low", TOOLS), for_training=not generation)
    got = hf_tokenizer.apply_chat_template(messages, chat_template=TEMPLATE, tools=TOOLS, reasoning_effort="low",
                                           tokenize=False, add_generation_prompt=generation)
    assert got == expected
