"""A live `openweight serve` on 127.0.0.1, serving the built-in model, for the server tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

import openai
import pytest

from openweight.registry import BUILT_IN

API_KEY = "test-key"
MODEL = "openweight-mini"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """Base URL of a server started as users start it (its own process, real HTTP)."""
    if not (BUILT_IN[MODEL] / "config.json").exists():
        pytest.fail(f"the built-in model is missing from {BUILT_IN[MODEL]}")
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # a 6M-parameter model only loses from threads
    process = subprocess.Popen([sys.executable, "-m", "openweight.cli", "serve", "--model", MODEL, "--port", str(port),
                                "--api-key", API_KEY, "--max-batch", "16"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail("the server exited:\n" + process.stdout.read())
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail("the server did not start within 120 s")
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY
