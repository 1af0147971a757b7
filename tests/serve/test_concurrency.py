"""Continuous batching seen from outside: concurrent streams get what they would get alone."""

import http.client
import json
import socket
import threading
import time
import urllib.request

MODEL = "openweight-mini"


def stream_text(client, question: str, max_tokens: int = 120) -> str:
    text = ""
    for chunk in client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": question}],
                                                reasoning_effort="high", temperature=0, max_tokens=max_tokens,
                                                stream=True):
        if chunk.choices:
            delta = chunk.choices[0].delta
            text += (delta.model_extra or {}).get("reasoning_content") or ""
            text += delta.content or ""
    return text


def metric(server: str, name: str) -> float:
    for line in urllib.request.urlopen(server + "/metrics").read().decode().splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_sixteen_concurrent_streams_each_match_the_request_alone(client, server):
    questions = [f"What is {12 + 7 * i} + {31 * i % 97}?" for i in range(16)]
    alone = [stream_text(client, q) for q in questions]
    together: list[str | None] = [None] * 16
    steps_before = metric(server, "openweight_decode_steps_total")

    def run(i: int) -> None:
        together[i] = stream_text(client, questions[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert together == alone
    tokens = sum(len(t) for t in together)  # characters: a lower bound on shared work is enough here
    steps = metric(server, "openweight_decode_steps_total") - steps_before
    assert steps < 0.5 * 16 * 120, "streams did not share decode steps"
    assert tokens > 0


def test_a_client_that_disconnects_frees_its_row_at_once(server, api_key):
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "What is 1234 * 5678?"}], "stream": True,
            "max_tokens": 1500, "reasoning_effort": "high", "temperature": 0}
    connection.request("POST", "/v1/chat/completions", json.dumps(body),
                       {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"})
    response = connection.getresponse()
    assert response.status == 200
    for _ in range(5):
        assert response.readline().startswith(b"data: ")
        response.readline()
    assert metric(server, "openweight_active_sequences") == 1
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()
    deadline = time.time() + 5
    while metric(server, "openweight_active_sequences") and time.time() < deadline:
        time.sleep(0.05)
    assert metric(server, "openweight_active_sequences") == 0
