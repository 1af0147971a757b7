"""<think> reasoning splits the same whole or streamed, however the text is cut."""

from hypothesis import given
from hypothesis import strategies as st

from openweight.chat.think import ThinkParser, split_think

CASES = [
    ("<think>\nLet me add: 2+2=4.\n</think>\n\nThe answer is 4.", False, ("\nLet me add: 2+2=4.\n", "The answer is 4.")),
    ("Let me add.</think>4", True, ("Let me add.", "4")),  # R1: the prompt ended in <think>
    ("<think>\n\n</think>\n\nHello!", False, ("\n\n", "Hello!")),  # Qwen3 with thinking off
    ("Just an answer.", False, ("", "Just an answer.")),
    ("Answer mentions <think> tags later.", False, ("", "Answer mentions <think> tags later.")),
    ("<think>never closed", False, ("never closed", "")),
    ("<think>a</think>b</think>c", False, ("a", "b</think>c")),
    ("x < y and </thin", False, ("", "x < y and </thin")),
]


def test_whole_replies_split_as_expected():
    for text, in_reasoning, expected in CASES:
        assert split_think(text, in_reasoning) == expected, text


def test_unterminated_reasoning_is_flagged():
    parser = ThinkParser()
    parser.feed("<think>still thinking")
    parser.finish()
    assert parser.unterminated


@given(st.data())
def test_any_cut_streams_the_same_text(data):
    text, in_reasoning, expected = data.draw(st.sampled_from(CASES))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=8)))
    parser = ThinkParser(in_reasoning)
    reasoning = content = ""
    for start, end in zip([0, *cuts], [*cuts, len(text)]):
        delta = parser.feed(text[start:end])
        reasoning, content = reasoning + delta.reasoning, content + delta.content
    tail = parser.finish()
    assert (reasoning + tail.reasoning, content + tail.content) == expected
