"""The official openai client against the live server: chat completions and the Responses API."""

import json

from openweight.tasks.tools import CALCULATE, calculate

MODEL = "openweight-mini"

QUESTION = [{"role": "user", "content": "What is 23 + 58?"}]


def streamed_chat(client, **kwargs) -> tuple[str, str, list]:
    content, reasoning, chunks = "", "", []
    for chunk in client.chat.completions.create(model=MODEL, stream=True, **kwargs):
        chunks.append(chunk)
        if chunk.choices:
            delta = chunk.choices[0].delta
            content += delta.content or ""
            reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
    return content, reasoning, chunks


def test_models_are_listed(client):
    assert [m.id for m in client.models.list()] == [MODEL]


def test_a_chat_completion_keeps_reasoning_apart_from_the_answer(client):
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, reasoning_effort="high", temperature=0,
                                           max_tokens=300)
    message = reply.choices[0].message
    reasoning = message.model_extra["reasoning_content"]
    assert reply.choices[0].finish_reason == "stop"
    assert message.content.strip() == "81"
    assert "23" in reasoning and "Check" in reasoning and reasoning not in message.content
    assert message.model_extra["reasoning"] == reasoning  # both spellings clients read
    usage = reply.usage
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_streamed_deltas_add_up_to_the_same_reply_for_the_same_seed(client):
    settings = dict(messages=[{"role": "user", "content": "What is 47 * 6?"}], reasoning_effort="medium",
                    temperature=0.8, seed=11, max_tokens=300)
    whole = client.chat.completions.create(model=MODEL, **settings).choices[0].message
    content, reasoning, chunks = streamed_chat(client, stream_options={"include_usage": True}, **settings)
    assert content == whole.content and reasoning == whole.model_extra["reasoning_content"]
    assert chunks[-1].usage.completion_tokens > 0 and not chunks[-1].choices
    assert all(c.id == chunks[0].id for c in chunks)


def test_a_tool_round_trip(client):
    messages = [{"role": "user", "content": "What is 4321 * 8765?"}]
    reply = client.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATE], temperature=0,
                                           max_tokens=300)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "calculate"
    result = calculate(json.loads(call.function.arguments)["expression"])
    assert result == str(4321 * 8765)
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": result}]
    answer = client.chat.completions.create(model=MODEL, messages=messages, tools=[CALCULATE], temperature=0,
                                            max_tokens=300)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content.strip() == result


def test_a_forced_tool_choice_calls_that_function(client):
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=[CALCULATE], temperature=0,
                                           tool_choice={"type": "function", "function": {"name": "calculate"}},
                                           max_tokens=100)
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "calculate" and "23" in call.function.arguments


def test_the_responses_api_streamed_and_not(client):
    settings = dict(model=MODEL, input="What is 23 + 58?", reasoning={"effort": "high"}, temperature=0,
                    max_output_tokens=300)
    response = client.responses.create(**settings)
    assert response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text.strip() == "81"
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    reasoning, text, kinds = "", "", []
    for event in client.responses.create(stream=True, **settings):
        kinds.append(event.type)
        if event.type == "response.reasoning_text.delta":
            reasoning += event.delta
        elif event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.completed":
            final = event.response
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert text == response.output_text and reasoning == response.output[0].content[0].text
    assert final.output_text == text


def test_a_responses_tool_round_trip_with_previous_response_id(client):
    first = client.responses.create(model=MODEL, input="What is 4321 * 8765?", temperature=0, max_output_tokens=300,
                                    tools=[{"type": "function", **CALCULATE["function"]}])
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "calculate"
    result = calculate(json.loads(call.arguments)["expression"])
    second = client.responses.create(model=MODEL, previous_response_id=first.id, temperature=0,
                                     max_output_tokens=300, tools=[{"type": "function", **CALCULATE["function"]}],
                                     input=[{"type": "function_call_output", "call_id": call.call_id,
                                             "output": result}])
    assert second.output_text.strip() == str(4321 * 8765)
    assert client.responses.retrieve(second.id).output_text == second.output_text
