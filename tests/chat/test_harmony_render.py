"""Harmony rendering is identical, token for token, to openai-harmony's (goldens in data/)."""

import json
from pathlib import Path

import pytest

from openweight.chat import harmony
from openweight.tokenizer import Tokenizer

DATA = Path(__file__).parent / "data"
GOLDENS = json.loads((DATA / "harmony_goldens.json").read_text())["conversations"]
RENDERS = {  # golden key -> render arguments
    "completion": dict(for_training=False),
    "completion_keep_analysis": dict(for_training=False, drop_analysis=False),
    "training": dict(for_training=True),
    "training_drop_analysis": dict(for_training=True, drop_analysis=True),
}


@pytest.fixture(scope="module")
def o200k():
    """The o200k pieces the goldens use, at their real ids (made by tools/harmony_goldens.py)."""
    return Tokenizer.from_file(DATA / "o200k_subset_tokenizer.json")


def test_there_are_at_least_40_goldens():
    assert len(GOLDENS) >= 40


@pytest.mark.parametrize("golden", GOLDENS, ids=[g["name"] for g in GOLDENS])
@pytest.mark.parametrize("kind", list(RENDERS))
def test_render_matches_reference(golden, kind, o200k):
    expected = golden[kind]
    assert harmony.render(golden["messages"], **RENDERS[kind]) == expected["text"]
    ids, mask = harmony.render_ids(golden["messages"], o200k, **RENDERS[kind])
    assert ids == expected["ids"]
    assert len(mask) == len(ids)
