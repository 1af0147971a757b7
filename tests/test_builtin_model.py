"""The shipped model, openweight-mini: what it is, and that it reasons as its evaluation says."""

import json
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import torch

import openweight
from openweight.evaluate.tasks import evaluate_cell
from openweight.registry import BUILT_IN


def test_it_is_the_default_and_gpt_oss_in_miniature():
    lm = openweight.load()
    config = lm.config
    assert config.model_type == "gpt_oss" and config.num_local_experts > config.num_experts_per_tok
    assert {"sliding_attention", "full_attention"} == set(config.layer_types)
    assert all(layer.self_attn.sinks is not None for layer in lm.model.model.layers)
    assert sum(p.numel() for p in lm.model.parameters()) <= 20_000_000
    folder = BUILT_IN["openweight-mini"]
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 16 * 2**20
    assert json.loads((folder / "config.json").read_text())["dtype"] == "bfloat16"
    assert lm.model.dtype == torch.float32  # loaded for the CPU's fastest exact path


def test_an_installed_package_carries_it():
    """The weights lie inside the package and its package data takes every file, so a wheel (not
    only an editable install) loads the default model."""
    package = Path(openweight.__file__).parent
    folder = BUILT_IN["openweight-mini"]
    globs = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for f in folder.iterdir():
        relative = f.relative_to(package).as_posix()  # raises if the model lies outside the package
        assert any(fnmatch(relative, g) for g in globs["openweight"]), relative


def test_the_calculate_tool_carries_big_products():
    lm = openweight.load()
    with_tool = evaluate_cell(lm, "multiplication", "high", 12, difficulty=4, with_tool=True)
    without = evaluate_cell(lm, "multiplication", "high", 12, difficulty=4, with_tool=False)
    assert with_tool.correct >= 11 and without.correct < with_tool.correct


def test_low_effort_thinks_less_and_gets_less_right():
    lm = openweight.load()
    low = evaluate_cell(lm, "multiplication", "low", 24, difficulty=2)
    high = evaluate_cell(lm, "multiplication", "high", 24, difficulty=2)
    assert low.reasoning_tokens * 10 < high.reasoning_tokens
    assert low.correct < high.correct


def test_eager_loading_and_answering_leave_the_compiler_unloaded():
    """torch._dynamo costs ~1 s of start-up and ~80 MiB: only compile=True may import it."""
    code = ("import sys, openweight\n"
            "openweight.load().chat([{'role': 'user', 'content': 'What is 2 + 3?'}], max_new_tokens=8)\n"
            "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
