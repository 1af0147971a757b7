"""The JSON prefix checker agrees with the json module on whole documents and accepts every prefix of one."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from openweight.chat.json_prefix import JSONPrefix

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


def accepts(text: str) -> JSONPrefix | None:
    checker = JSONPrefix()
    for ch in text:
        if not checker.feed(ch):
            return None
    return checker


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(name)
    return json.loads(text, parse_constant=refuse)


@given(values, st.sampled_from([None, 1]), st.booleans())
def test_every_prefix_of_a_document_is_accepted_and_only_the_whole_is_complete(value, indent, ascii_only):
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    checker = JSONPrefix()
    for i, ch in enumerate(text):
        assert checker.feed(ch), (text, i)
        if i < len(text) - 1 and checker.complete:
            assert isinstance(value, (int, float)) and not isinstance(value, bool)  # '12' is whole, so is '1'
    assert checker.complete


@settings(max_examples=400)
@given(st.text(alphabet='{}[]",:.-+eE0123456789 truefalsn\\u', max_size=14))
def test_whole_documents_are_judged_like_the_json_module(text):
    try:
        strict_loads(text)
        valid = True
    except ValueError:
        valid = False
    checker = accepts(text)
    assert (checker is not None and checker.complete) == valid, text


def test_a_refused_piece_leaves_the_state_as_it_was():
    checker = JSONPrefix()
    assert checker.feed('{"a": ')
    assert not checker.feed("}")
    assert checker.feed("[1, 2.5e3, true]}") and checker.complete
    assert not checker.feed("x") and checker.feed("  \n")


def test_object_only_refuses_other_values():
    assert not JSONPrefix(object_only=True).feed("[1]")
    checker = JSONPrefix(object_only=True)
    assert checker.feed(' {"a": [1, {"b": null}]}') and checker.complete
