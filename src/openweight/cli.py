"""The `openweight` command line: generate, chat, eval, train and info."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .cpu import use_physical_cores
from .errors import GenerationError, OpenweightError
from .memory import return_freed_memory


def _add_model_args(p: argparse.ArgumentParser, compile_option: bool = True) -> None:
    """--model, --dtype, --quantize; and --compile where the command decodes with generate_ids."""
    p.add_argument("--model", default="openweight-mini",
                   help="a Hugging Face folder, a .gguf file or a short name: openweight-mini (default, built in), "
                        "smollm2-135m")
    _add_precision_args(p)
    if compile_option:
        p.add_argument("--compile", action="store_true",
                       help="decode through compiled steps (the first generation of a shape compiles; kept on disk)")


def _add_precision_args(p: argparse.ArgumentParser) -> None:
    """--dtype, --quantize and --kv-cache-dtype: how a loaded model holds its weights and caches."""
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--quantize", choices=["int8", "int4"], help="weight-only quantized linear layers and experts")
    p.add_argument("--kv-cache-dtype", choices=["float32", "bfloat16", "float16"],
                   help="keys and values of generation's cache (default: --dtype; llama.cpp's default is float16)")


def parameter_counts(config) -> tuple[int, int]:
    """(total, active per token) of a checkpoint of this config: a MoE token runs only its top-k experts."""
    from .weights.build import expected_shapes

    shapes = expected_shapes(config)
    total = sum(shape.numel() for shape in shapes.values())
    if not config.is_moe:
        return total, total
    experts = sum(shape.numel() for name, shape in shapes.items() if ".mlp.experts." in name)
    idle = config.num_local_experts - config.num_experts_per_tok
    return total, total - experts // config.num_local_experts * idle


def info(args) -> None:
    from . import load

    lm = load(args.model, args.dtype, args.quantize, kv_cache_dtype=args.kv_cache_dtype)
    c = lm.config
    total, active = parameter_counts(c)
    tensors = {id(t): t for t in [*lm.model.parameters(), *lm.model.buffers()]}.values()
    weight_bytes = sum(t.numel() * t.element_size() for t in tensors)
    kv_per_token = 2 * c.num_key_value_heads * c.head_dim * lm.model.cache_dtype.itemsize * sum(
        0 if c.is_sliding(i) else 1 for i in range(c.num_hidden_layers))
    banded = sum(c.is_sliding(i) for i in range(c.num_hidden_layers))
    print(json.dumps(c.to_dict(), indent=2))
    print(f"parameters: {total:,} total, {active:,} active per token")
    print(f"weights in memory: {weight_bytes / 2**20:.1f} MiB ({args.quantize or args.dtype})")
    print(f"KV cache: {kv_per_token / 1024:.1f} KiB per token of context "
          f"({str(lm.model.cache_dtype).removeprefix('torch.')})"
          + (f", plus {banded} banded layer(s) capped at {c.sliding_window} tokens" if banded else ""))


def generate(args) -> None:
    from . import load

    lm = load(args.model, args.dtype, args.quantize, compile=args.compile,
              kv_cache_dtype=args.kv_cache_dtype)
    sampling = dict(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p,
                    repetition_penalty=args.repetition_penalty, seed=args.seed)
    if args.chat:
        for delta in lm.chat(args.prompt, args.max_new_tokens, reasoning_effort=args.reasoning_effort,
                             stream=True, **sampling):
            if delta.reasoning:  # dimmed on a terminal, so the answer stands out
                sys.stdout.write(f"\033[2m{delta.reasoning}\033[0m" if sys.stdout.isatty() else delta.reasoning)
            sys.stdout.write(delta.content)
            sys.stdout.flush()
    else:
        for piece in lm.generate(args.prompt, args.max_new_tokens, stop=args.stop, stream=True, **sampling):
            sys.stdout.write(piece)
            sys.stdout.flush()
    sys.stdout.write("\n")


def chat(args) -> None:
    from . import load
    from .console import run_chat

    lm = load(args.model, args.dtype, args.quantize, compile=args.compile,
              kv_cache_dtype=args.kv_cache_dtype)
    if lm.tokenizer is None:
        raise GenerationError(f"{args.model} has no tokenizer, so it cannot chat")
    sampling = dict(temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    run_chat(lm, args.question, effort=args.effort, system=args.system, max_new_tokens=args.max_new_tokens,
             sampling=sampling, calculator=args.calculator)


def serve(args) -> None:
    from . import load
    from .serve.app import serve as run_server

    models = {}
    for name in args.model:
        lm = load(name, args.dtype, args.quantize, kv_cache_dtype=args.kv_cache_dtype)
        if lm.tokenizer is None:
            raise GenerationError(f"{name} has no tokenizer, so it cannot be served")
        models[Path(name).name if Path(name).exists() else name] = lm
    run_server(models, args.host, args.port, api_key=args.api_key, max_batch=args.max_batch,
               max_context=args.max_context)


def evaluate(args) -> None:
    from . import load
    from .evaluate.tasks import check_request, run_eval
    from .tasks import VARIATIONS

    tasks, efforts = args.tasks.split(","), args.effort.split(",")
    check_request(tasks, efforts, args.problems, args.difficulty, args.max_new_tokens)  # before the model loads
    lm = load(args.model, args.dtype, args.quantize, kv_cache_dtype=args.kv_cache_dtype)
    table = run_eval(lm, tasks, efforts, args.problems, Path(args.out),
                     title=f"{args.model}: held-out accuracy", difficulty=args.difficulty,
                     max_new_tokens=args.max_new_tokens, with_tool=args.tool,
                     variations=tuple(v for v in VARIATIONS if getattr(args, v)), keep_replies=args.save_replies)
    print(table)


def train(args) -> None:
    from .train.recipe import run
    from .train.trainer import close_distributed

    try:
        run(args.recipe, args.out or Path("runs") / Path(args.recipe).stem, args.stage)
    finally:
        close_distributed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openweight", description="Open-weight language models in PyTorch.")
    commands = parser.add_subparsers(dest="command", required=True)

    g = commands.add_parser("generate", help="continue a prompt (or answer it, with --chat)")
    _add_model_args(g)
    g.add_argument("--prompt", required=True)
    g.add_argument("--chat", action="store_true", help="wrap the prompt as a user turn of the model's chat template")
    g.add_argument("--reasoning-effort", choices=["low", "medium", "high"], help="with --chat")
    g.add_argument("--max-new-tokens", type=int, default=128)
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--min-p", type=float, default=0.0)
    g.add_argument("--repetition-penalty", type=float, default=1.0)
    g.add_argument("--seed", type=int)
    g.add_argument("--stop", action="append", help="stop string (repeatable)")
    g.set_defaults(run=generate)

    c = commands.add_parser("chat", help="talk with a model in the terminal (or ask one question)")
    _add_model_args(c)
    c.add_argument("question", nargs="?", help="ask this, print the reply and exit (default: interactive)")
    c.add_argument("--effort", choices=["low", "medium", "high"], help="reasoning effort (harmony models)")
    c.add_argument("--system", help="system prompt")
    c.add_argument("--max-new-tokens", type=int, default=1024)
    c.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    c.add_argument("--top-p", type=float, default=1.0)
    c.add_argument("--seed", type=int)
    c.add_argument("--calculator", action="store_true", help="offer the calculate tool and run its calls")
    c.set_defaults(run=chat)

    s = commands.add_parser("serve", help="an OpenAI-compatible HTTP server with a web chat page")
    s.add_argument("--model", action="append", help="a model to serve (repeatable; default: openweight-mini)")
    _add_precision_args(s)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1 routes")
    s.add_argument("--max-batch", type=int, default=16, help="sequences decoded together")
    s.add_argument("--max-context", type=int, help="tokens per sequence (default: the model's context)")
    s.set_defaults(run=serve)

    t = commands.add_parser("train", help="run a training recipe (resumes where a killed run stopped)")
    t.add_argument("recipe", help="a recipe file, e.g. recipes/openweight_mini.py")
    t.add_argument("--out", help="run folder (default: runs/<recipe name>)")
    t.add_argument("--stage", default="all", choices=["tokenizer", "sft", "grpo", "export", "all"])
    t.set_defaults(run=train)

    e = commands.add_parser("eval", help="held-out task accuracy per family and effort")
    _add_model_args(e, compile_option=False)  # evaluation decodes through the continuous engine
    e.add_argument("--tasks", default="add_sub,multiplication,linear,sorting,countdown")
    e.add_argument("--effort", default="low,medium,high")
    e.add_argument("--problems", type=int, default=500, help="per family and effort")
    e.add_argument("--difficulty", type=int, help="one difficulty (default: mixed)")
    e.add_argument("--max-new-tokens", type=int, default=1024)
    e.add_argument("--tool", action="store_true", help="offer the calculate tool and answer the model's calls")
    e.add_argument("--unequal-operands", action="store_true",
                   help="sums and products with one operand shorter than the other (from difficulty 2)")
    e.add_argument("--everyday-forms", action="store_true",
                   help="sums and products asked as people type them ('12+7', 'What's 25 times 40?')")
    e.add_argument("--save-replies", action="store_true",
                   help="also write every reply, with its problem and score, to replies.jsonl")
    e.add_argument("--out", default="eval", help="folder for eval.json and eval.md")
    e.set_defaults(run=evaluate)

    i = commands.add_parser("info", help="config, parameter counts and memory of a model")
    _add_model_args(i, compile_option=False)
    i.set_defaults(run=info)

    args = parser.parse_args(argv)
    use_physical_cores()
    if args.command != "train":  # training reuses its big buffers every step: keep glibc's heap for them
        return_freed_memory()
    if args.command == "serve" and not args.model:
        args.model = ["openweight-mini"]
    try:
        with torch.set_grad_enabled(args.command == "train"):  # restored on return: main() is callable in-process
            args.run(args)
    except OpenweightError as e:
        print(f"openweight: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
