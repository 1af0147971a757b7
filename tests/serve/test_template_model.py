"""A model with its own chat template (SmolLM2 from its GGUF file) behind the same API."""

import pytest
from fastapi.testclient import TestClient

from openweight import load
from openweight.serve.app import create_app

MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def app():
    with TestClient(create_app({MODEL: load(MODEL)})) as client:
        yield client


def test_chat_and_responses_answer(app):
    question = [{"role": "user", "content": "What is the capital of France?"}]
    chat = app.post("/v1/chat/completions", json={"model": MODEL, "messages": question, "temperature": 0,
                                                  "max_tokens": 30}).json()
    assert "Paris" in chat["choices"][0]["message"]["content"] and chat["choices"][0]["finish_reason"] == "stop"
    response = app.post("/v1/responses", json={"model": MODEL, "input": "What is the capital of France?",
                                               "temperature": 0, "max_output_tokens": 30}).json()
    assert [item["type"] for item in response["output"]] == ["message"]
    assert "Paris" in response["output"][0]["content"][0]["text"]


def test_a_forced_tool_call_needs_a_harmony_model(app):
    reply = app.post("/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
                                                   "tools": [{"type": "function", "function": {"name": "f"}}],
                                                   "tool_choice": "required"})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tool_choice"
