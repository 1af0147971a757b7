"""Harmony parsing agrees with openai-harmony, streams token by token, and survives any output."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openweight import harmony
from openweight.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
GOLDENS = [g for g in json.loads((DATA / "harmony_goldens.json").read_text())["conversations"] if "reply" in g]
TOKENIZER = Tokenizer.from_file(DATA / "o200k_subset_tokenizer.json")
FIELDS = ("role", "name", "channel", "recipient", "content_type", "content")


def fields(message) -> dict:
    return {k: getattr(message, k) for k in FIELDS}


def test_enough_replies_to_parse():
    assert len(GOLDENS) >= 15


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
def test_parse_matches_reference(golden):
    reply = golden["reply"]
    assert [fields(m) for m in harmony.parse_ids(reply["ids"], TOKENIZER)] == reply["messages"]
    assert all(m.error is None for m in harmony.parse_ids(reply["ids"], TOKENIZER))


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
def test_text_parse_matches_reference(golden):
    reply = golden["reply"]
    if any("<|" in m["content"] for m in reply["messages"]):
        pytest.skip("content spells special tokens: only token ids can tell them from structure")
    text = TOKENIZER.decode(reply["ids"])
    got = harmony.parse(text, role="assistant")
    assert [{k: m.get(k) for k in FIELDS} for m in got] == reply["messages"]


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
def test_streaming_reconstructs_the_batch_parse_at_every_token(golden):
    """Cut after every token: what has streamed so far is a prefix of each final message."""
    ids = golden["reply"]["ids"]
    final = harmony.parse_ids(ids, TOKENIZER)
    parser = harmony.TokenParser(TOKENIZER)
    streamed = [""] * len(final)
    for k, token in enumerate(ids):
        index = len(parser.messages)  # text of a step belongs to the message open when it began
        delta = parser.feed(token)
        if delta is not None:
            message = final[index]
            assert (delta.channel, delta.recipient, delta.content_type) == \
                   (message.channel, message.recipient, message.content_type), k
            streamed[index] += delta.text
        assert all(final[i].content.startswith(streamed[i]) for i in range(len(final))), k
    tail = parser.finish()
    if tail is not None:
        streamed[-1] += tail.text
    assert streamed == [m.content for m in final]
    assert [fields(m) for m in parser.messages] == [fields(m) for m in final]


def test_recipient_and_channel_are_known_as_soon_as_content_starts():
    reply = harmony.render([{"role": "assistant", "channel": "commentary", "recipient": "functions.calculate",
                             "content_type": "<|constrain|>json", "content": '{"expression": "2+2"}'}],
                           for_training=True)
    ids, _ = harmony.render_ids([{"role": "assistant", "channel": "commentary", "recipient": "functions.calculate",
                                  "content_type": "<|constrain|>json", "content": '{"expression": "2+2"}'}],
                                TOKENIZER, for_training=True)
    parser = harmony.TokenParser(TOKENIZER, role=None)
    deltas = [d for d in map(parser.feed, ids) if d is not None]
    assert deltas[0].recipient == "functions.calculate" and deltas[0].channel == "commentary"
    assert "".join(d.text for d in deltas) == '{"expression": "2+2"}'
    assert parser.messages[0].end == "<|call|>" and reply.endswith("<|call|>")


@pytest.mark.parametrize("text,expected", [
    # a header cut short by a new message
    ("hello<|start|>assistant<|channel|>final<|message|>hi<|end|>",
     [("hello", None, "message header interrupted by <|start|>"), ("hi", "final", None)]),
    # the model repeats the '<|start|>assistant' the prompt ended with
    ("<|start|>assistant<|channel|>final<|message|>hi<|end|>", [("hi", "final", None)]),
    # a header that never reaches <|message|>
    ("<|channel|>commentary Hello<|end|><|start|>assistant<|channel|>final<|message|>ok<|end|>",
     [("Hello", "commentary", "message header ended without <|message|>"), ("ok", "final", None)]),
    # an unknown channel keeps its text
    ("<|channel|>thoughts<|message|>hmm<|end|>", [("hmm", "thoughts", "unknown channel 'thoughts'")]),
    # end of output inside a header
    ("<|channel|>final<|message|>done<|end|><|start|>assistant<|channel|>fin",
     [("done", "final", None), ("", "fin", "the output ended inside a message header")]),
    # a stray special token inside content is content
    ("<|channel|>final<|message|>a<|start|>b<|constrain|>c<|end|>", [("a<|start|>b<|constrain|>c", "final", None)]),
    # an unreadable header keeps its text in `header`, the content still parses
    ("<|channel|>commentary a b c<|message|>{}<|call|>",
     [("{}", "commentary", "unexpected text in message header: 'a'")]),
    # the model stopped (max tokens) mid-message
    ("<|channel|>analysis<|message|>Let me thi", [("Let me thi", "analysis", None)]),
])
def test_malformed_output_degrades_to_text_with_a_flag(text, expected):
    got = [(m.content, m.channel, m.error) for m in harmony.parse_text(text, role="assistant")]
    assert got == expected


def test_text_before_the_first_start_is_kept_and_flagged():
    got = harmony.parse("hello<|start|>assistant<|channel|>final<|message|>hi<|end|>")
    assert got == [{"role": "assistant", "content": "hello", "error": "text outside a message (no <|start|>)"},
                   {"role": "assistant", "content": "hi", "channel": "final"}]


SPECIAL_IDS = [TOKENIZER.token_id(t) for t in harmony.SPECIAL_TOKENS]
WORDS = [f"[w{i}]" for i in range(40)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(SPECIAL_IDS), st.sampled_from(WORDS)), max_size=40),
       st.sampled_from(["assistant", None]))
def test_random_token_streams_never_raise_and_never_lose_text(items, role):
    ids, words = [], []
    for item in items:
        if isinstance(item, str):
            ids += TOKENIZER.encode_plain(item)
            words.append(item)
        else:
            ids.append(item)
    parser = harmony.TokenParser(TOKENIZER, role)
    for token in ids:
        parser.feed(token)
    parser.finish()
    kept = "".join(m.header + m.content for m in parser.messages)
    position = 0
    for word in words:  # every word survives, in order
        position = kept.find(word, position)
        assert position != -1, (word, kept)
        position += len(word)
