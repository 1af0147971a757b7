"""Prefill and decode speed of SmolLM2-135M-Instruct (Q4_1 GGUF): openweight beside transformers.

Both load the same GGUF file and run on the same threads in one process, one after the other.
Prefill: a 512-token prompt, tokens/s. Decode: 128 new tokens at batch 1 after a 16-token prompt,
tokens/s of the decode steps alone (generation time minus the prefill of that prompt).
Each figure is the median of --runs runs after one warm-up run, the two backends taking turns.

    python bench/smollm2_speed.py [--runs 5] [--threads 2] [--dtypes float32 bfloat16]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import openweight
from openweight.engine.generate import generate_ids
from openweight.registry import resolve

PREFILL_TOKENS, DECODE_TOKENS, SHORT_PROMPT = 512, 128, 16


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(fns: dict, runs: int) -> dict:
    """Median seconds of each fn, the backends taking turns so that drift hits them alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            times[name].append(seconds(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def openweight_runner(dtype: str):
    lm = openweight.load("smollm2-135m", dtype=dtype)

    def prefill(ids):
        lm.logits(torch.tensor([ids]))

    def generate(ids, n):
        steps = list(generate_ids(lm.model, [ids], n))
        assert len(steps) == n

    return prefill, generate


def transformers_runner(dtype: str):
    import transformers

    path = resolve("smollm2-135m")
    transformers.logging.set_verbosity_error()
    model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                              dtype=getattr(torch, dtype)).eval()
    config = model.generation_config
    config.eos_token_id, config.pad_token_id = None, 2

    @torch.inference_mode()
    def prefill(ids):
        model(torch.tensor([ids]))

    @torch.inference_mode()
    def generate(ids, n):
        out = model.generate(torch.tensor([ids]), generation_config=config, max_new_tokens=n, do_sample=False)
        assert out.shape[1] == len(ids) + n

    return prefill, generate


def measure(runners: dict, prompt: list[int], runs: int) -> dict:
    """{backend: {"prefill_tok_s": ..., "decode_tok_s": ...}} for runners {backend: (prefill, generate)}."""
    short = prompt[:SHORT_PROMPT]
    prefill = interleaved_medians({n: (lambda p=p: p(prompt)) for n, (p, _) in runners.items()}, runs)
    prefill_short = interleaved_medians({n: (lambda p=p: p(short)) for n, (p, _) in runners.items()}, runs)
    generate = interleaved_medians({n: (lambda g=g: g(short, DECODE_TOKENS)) for n, (_, g) in runners.items()},
                                   runs)
    return {n: {"prefill_tok_s": PREFILL_TOKENS / prefill[n],
                "decode_tok_s": DECODE_TOKENS / (generate[n] - prefill_short[n])} for n in runners}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--out", default="bench/results/smollm2_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = openweight.load("smollm2-135m").tokenizer
    text = Path(__file__).read_text() * 8
    prompt = tokenizer.encode(text)[:PREFILL_TOKENS]
    assert len(prompt) == PREFILL_TOKENS

    rows = []
    for dtype in args.dtypes:
        result = measure({"openweight": openweight_runner(dtype), "transformers": transformers_runner(dtype)},
                         prompt, args.runs)
        ours, theirs = result["openweight"], result["transformers"]
        for metric in ("prefill_tok_s", "decode_tok_s"):
            rows.append({"dtype": dtype, "metric": metric, "openweight": ours[metric],
                         "transformers": theirs[metric], "ratio": ours[metric] / theirs[metric]})

    result = {"model": "SmolLM2-135M-Instruct Q4_1 GGUF (weights decoded to the dtype)",
              "threads": args.threads, "runs": args.runs, "prefill_tokens": PREFILL_TOKENS,
              "decode_tokens": DECODE_TOKENS, "torch": torch.__version__, "machine": platform.processor()
              or platform.machine(), "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"SmolLM2-135M-Instruct (Q4_1 GGUF), {args.threads} threads, median of {args.runs} runs\n")
    print("| dtype | metric | openweight tok/s | transformers tok/s | openweight / transformers |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dtype']} | {r['metric'].removesuffix('_tok_s')} | {r['openweight']:.1f} | "
              f"{r['transformers']:.1f} | {r['ratio']:.2f}x |")


if __name__ == "__main__":
    main()
