"""Malformed requests get the right 4xx in OpenAI's error shape, naming the parameter; the server goes on."""

import http.client
import json

import pytest

MODEL = "openweight-mini"
CHAT, COMPLETIONS, RESPONSES = "/v1/chat/completions", "/v1/completions", "/v1/responses"
USER = [{"role": "user", "content": "What is 2 + 2?"}]
TOOL = {"type": "function", "function": {"name": "calculate", "parameters": {"type": "object"}}}


def chat(**fields):
    return {"model": MODEL, "messages": USER, **fields}


# (what is wrong, path, body: dict or raw bytes, status, the parameter the error names)
CASES = [
    ("not JSON", CHAT, b"{'model': 1", 400, None),
    ("a JSON array", CHAT, b"[1, 2]", 400, None),
    ("no model", CHAT, {"messages": USER}, 400, "model"),
    ("unknown model", CHAT, chat(model="gpt-9"), 404, "model"),
    ("no messages", CHAT, {"model": MODEL}, 400, "messages"),
    ("empty messages", CHAT, chat(messages=[]), 400, "messages"),
    ("messages not a list", CHAT, chat(messages="hi"), 400, "messages"),
    ("unknown role", CHAT, chat(messages=[{"role": "wizard", "content": "hi"}]), 400, "messages.0.role"),
    ("message without a role", CHAT, chat(messages=[{"content": "hi"}]), 400, "messages.0.role"),
    ("content a number", CHAT, chat(messages=[{"role": "user", "content": 12}]), 400, "messages.0.content"),
    ("an image part", CHAT, chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
     400, "messages.0.content"),
    ("negative max_tokens", CHAT, chat(max_tokens=-5), 400, "max_tokens"),
    ("zero max_tokens", CHAT, chat(max_tokens=0), 400, "max_tokens"),
    ("huge max_tokens", CHAT, chat(max_tokens=10**9), 400, "max_tokens"),
    ("max_tokens a word", CHAT, chat(max_tokens="ten"), 400, "max_tokens"),
    ("huge max_completion_tokens", CHAT, chat(max_completion_tokens=10**6), 400, "max_completion_tokens"),
    ("temperature too high", CHAT, chat(temperature=5), 400, "temperature"),
    ("top_p zero", CHAT, chat(top_p=0), 400, "top_p"),
    ("n zero", CHAT, chat(n=0), 400, "n"),
    ("five stop strings", CHAT, chat(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    ("stop a number", CHAT, chat(stop=7), 400, "stop"),
    ("an unknown parameter", CHAT, chat(temprature=0.5), 400, "temprature"),
    ("tools not a list", CHAT, chat(tools={"type": "function"}), 400, "tools"),
    ("a tool without a name", CHAT, chat(tools=[{"type": "function", "function": {"description": "x"}}]), 400,
     "tools.0.function.name"),
    ("tool_choice naming an unknown tool", CHAT,
     chat(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "launch"}}), 400, "tool_choice"),
    ("tool_choice required without tools", CHAT, chat(tool_choice="required"), 400, "tool_choice"),
    ("response_format of an unknown type", CHAT, chat(response_format={"type": "xml"}), 400, "response_format.type"),
    ("json_schema without its schema", CHAT, chat(response_format={"type": "json_schema"}), 400, "response_format"),
    ("a schema with a bad type", CHAT,
     chat(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "banana"}}}), 400,
     "response_format.json_schema.schema"),
    ("unknown reasoning_effort", CHAT, chat(reasoning_effort="extreme"), 400, "reasoning_effort"),
    ("logprobs", CHAT, chat(logprobs=True), 400, "logprobs"),
    ("frequency_penalty", CHAT, chat(frequency_penalty=1.0), 400, "frequency_penalty"),
    ("a prompt longer than the context", CHAT, chat(messages=[{"role": "user", "content": "seven " * 5000}]), 400,
     "messages"),
    ("an oversize body", CHAT, chat(messages=[{"role": "user", "content": "x" * (5 * 2**20)}]), 413, None),
    ("an empty completion prompt", COMPLETIONS, {"model": MODEL, "prompt": ""}, 400, "prompt"),
    ("a token outside the vocabulary", COMPLETIONS, {"model": MODEL, "prompt": [1, 10**7]}, 400, "prompt"),
    ("an unknown input item", RESPONSES, {"model": MODEL, "input": [{"type": "telepathy"}]}, 400, "input.0.type"),
    ("an unknown previous response", RESPONSES, {"model": MODEL, "input": "hi", "previous_response_id": "resp_x"},
     404, "previous_response_id"),
    ("a bad reasoning effort", RESPONSES, {"model": MODEL, "input": "hi", "reasoning": {"effort": "max"}}, 400,
     "reasoning.effort"),
    ("a function_call_output without call_id", RESPONSES,
     {"model": MODEL, "input": [{"type": "function_call_output", "output": "1"}]}, 400, "input.0.call_id"),
]


def post(server: str, path: str, body, headers: dict) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        connection.request("POST", path, data, {"Content-Type": "application/json", **headers})
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered before reading all of an oversize body, as it should; the answer is there
    response = connection.getresponse()
    try:
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("what,path,body,status,param", CASES, ids=[c[0] for c in CASES])
def test_malformed_requests(server, api_key, what, path, body, status, param):
    code, reply = post(server, path, body, {"Authorization": f"Bearer {api_key}"})
    assert code == status, reply
    error = reply["error"]
    assert error["message"] and error["type"] and error["param"] == param, error


@pytest.mark.parametrize("header", [None, "Bearer wrong", "test-key"])
def test_a_missing_or_wrong_api_key_is_refused(server, header):
    code, reply = post(server, CHAT, chat(), {"Authorization": header} if header else {})
    assert code == 401 and reply["error"]["code"] == "invalid_api_key"


def test_the_server_still_serves_after_all_that(server, api_key):
    assert len(CASES) >= 25
    code, reply = post(server, CHAT, chat(max_tokens=50, temperature=0), {"Authorization": f"Bearer {api_key}"})
    assert code == 200 and reply["choices"][0]["message"]["content"]
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("GET", "/v1/responses/resp_unknown", headers={"Authorization": f"Bearer {api_key}"})
    response = connection.getresponse()
    assert response.status == 404 and json.loads(response.read())["error"]["code"] == "response_not_found"
