"""Aggregate decode speed of `openweight serve` (continuous batching) at 1, 4 and 16 concurrent streams.

A live server on 127.0.0.1 serves the built-in model; each stream is a streamed chat completion
(the openai client, greedy, high effort, a different multiplication each) of up to --max-tokens
tokens. Aggregate tokens/s = completion tokens of all streams / wall time of the round. Each figure
is the median of --runs rounds after a warm-up round; the ratio is against 1 stream.

    python bench/serve_throughput.py [--runs 3] [--max-tokens 256] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from openai import OpenAI

CONCURRENCY = (1, 4, 16)


def start_server(port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    process = subprocess.Popen([sys.executable, "-m", "openweight.cli", "serve", "--port", str(port),
                                "--max-batch", "16"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def one_stream(client: OpenAI, question: str, max_tokens: int) -> int:
    tokens = 0
    for chunk in client.chat.completions.create(model="openweight-mini", stream=True, temperature=0,
                                                max_tokens=max_tokens, reasoning_effort="high",
                                                stream_options={"include_usage": True},
                                                messages=[{"role": "user", "content": question}]):
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return tokens


def round_rate(client: OpenAI, streams: int, max_tokens: int, offset: int) -> float:
    counts = [0] * streams

    def run(i: int) -> None:
        counts[i] = one_stream(client, f"What is {101 + 37 * (i + offset)} * {23 + i}?", max_tokens)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = start_server(port, args.threads)
    try:
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=600)
        rates = {}
        for streams in CONCURRENCY:
            round_rate(client, streams, args.max_tokens, offset=0)  # warm-up
            rates[streams] = statistics.median(round_rate(client, streams, args.max_tokens, offset=r + 1)
                                               for r in range(args.runs))
    finally:
        server.terminate()
        server.wait()
    print(f"openweight-mini, float32, {args.threads} threads, streamed chat completions of up to "
          f"{args.max_tokens} tokens, median of {args.runs} rounds")
    print("| streams | aggregate decode tokens/s | vs 1 stream |")
    print("|---:|---:|---:|")
    for streams, rate in rates.items():
        print(f"| {streams} | {rate:.0f} | {rate / rates[1]:.2f}x |")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "serve_throughput.json").write_text(json.dumps(
        {"machine": platform.processor() or platform.machine(), "threads": args.threads,
         "max_tokens": args.max_tokens, "runs": args.runs, "tokens_per_s": rates}, indent=2) + "\n")


if __name__ == "__main__":
    main()
