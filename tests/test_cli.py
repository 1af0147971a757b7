"""The command line, run as users run it."""

import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "openweight.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_generate_chat_with_the_short_name():
    out = run("generate", "--model", "smollm2-135m", "--chat", "--prompt", "What is the capital of France?",
              "--max-new-tokens", "24")
    assert out.returncode == 0, out.stderr
    assert "Paris" in out.stdout


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_generate_quantized(mode):
    # Not France: there SmolLM2's first token 'The' leads 'L' by 0.08 in 25.3 (float32), a knife edge
    # that any change of rounding tips ("L'Étoile, ..."). For Japan the lead is 2.5.
    out = run("generate", "--model", "smollm2-135m", "--quantize", mode, "--chat", "--prompt",
              "What is the capital of Japan?", "--max-new-tokens", "24")
    assert out.returncode == 0, out.stderr
    assert "Tokyo" in out.stdout


def test_generate_quantized_and_compiled():
    """The built-in model, int4 experts routed through its step compiled ahead of time (SmolLM2's
    30 layers took 100 s to compile here; tests/engine/test_fast_decode.py covers compiled llama)."""
    out = run("generate", "--quantize", "int4", "--compile", "--chat", "--reasoning-effort", "medium",
              "--prompt", "What is 4821 + 3795?", "--max-new-tokens", "200")
    assert out.returncode == 0, out.stderr
    assert "8616" in out.stdout


def test_info_counts_quantized_weights(make_hf_model, tmp_path):
    make_hf_model("llama", hidden_size=256, intermediate_size=512).save_pretrained(tmp_path)  # ~7 MiB float32
    mib = {}
    for mode in ("float32", "int8", "int4"):
        out = run("info", "--model", str(tmp_path), *(["--quantize", mode] if mode != "float32" else []))
        assert out.returncode == 0, out.stderr
        mib[mode] = float(out.stdout.split("weights in memory: ")[1].split(" MiB")[0])
    assert mib["float32"] > mib["int8"] > mib["int4"]


def test_info_reports_config_and_counts(make_hf_model, tmp_path):
    make_hf_model("gpt_oss").save_pretrained(tmp_path)
    out = run("info", "--model", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert '"model_type": "gpt_oss"' in out.stdout
    # 5 experts, 2 active: the active count leaves out 3 experts' weights in each of 4 layers
    per_expert = 64 * 2 * 48 + 2 * 48 + 48 * 64 + 64
    total = int(out.stdout.split("parameters: ")[1].split(" total")[0].replace(",", ""))
    active = int(out.stdout.split("total, ")[1].split(" active")[0].replace(",", ""))
    assert total - active == 4 * 3 * per_expert
    kib = float(out.stdout.split("KV cache: ")[1].split(" KiB")[0])
    half = run("info", "--model", str(tmp_path), "--kv-cache-dtype", "float16")
    assert half.returncode == 0, half.stderr
    assert f"KV cache: {kib / 2:.1f} KiB per token of context (float16)" in half.stdout


@pytest.mark.parametrize("args,message", [
    (("generate", "--model", "missing-model", "--prompt", "hi"), "not a known model name"),
    (("generate", "--model", "smollm2-135m", "--prompt", ""), "prompt is empty"),
    (("eval", "--tasks", "add_sub,division"), "unknown task family 'division'"),
    (("eval", "--effort", "low,extreme"), "unknown reasoning effort 'extreme'"),
    (("eval", "--tasks", "sorting", "--difficulty", "9"), "difficulty 9 is out of range for sorting (1 to 4)"),
    (("eval", "--problems", "0"), "problems must be at least 1, got 0"),
    (("eval", "--max-new-tokens", "-5"), "max_new_tokens must be at least 1, got -5"),
])
def test_errors_are_one_line_not_tracebacks(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
