"""Conversations shared by the chat tests."""

import pytest


@pytest.fixture
def openai_tool_conversation() -> list[dict]:
    """An OpenAI-style tool round trip: system prompt with effort, reasoning, a call, its result, the answer."""
    return [
        {"role": "system", "content": "Answer tersely.", "reasoning_effort": "high"},
        {"role": "user", "content": "What is 1234 * 5678?"},
        {"role": "assistant", "reasoning_content": "Big product; use the tool.", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "calculate", "arguments": '{"expression": "1234 * 5678"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "7006652"},
        {"role": "assistant", "content": "7006652"},
    ]
