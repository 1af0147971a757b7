"""The trainer: schedules, optimizers, exact resume after SIGKILL, and torchrun reproducing one process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from openweight.config import ModelConfig
from openweight.model import Transformer
from openweight.train.optim import Muon, muon_parameters, orthogonalize
from openweight.train.schedule import lr_multiplier

RUN = [sys.executable, str(Path(__file__).parent / "tiny_run.py")]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
# Two processes sum the same per-token losses in a different order: float32 rounding, nothing more.
DISTRIBUTED_LOSS_TOL = 1e-5


def losses(folder: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (folder / "metrics.jsonl").read_text().splitlines()]


def held_out_records(folder: Path) -> list[dict]:
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "heldout_count_loss" in r]


def test_schedules():
    cosine = [lr_multiplier(s, 100, 10, "cosine", 0.1) for s in range(100)]
    assert cosine[0] == 0.1 and cosine[9] == 1.0 and abs(cosine[-1] - 0.1) < 1e-3
    assert all(a >= b for a, b in zip(cosine[9:], cosine[10:]))
    wsd = [lr_multiplier(s, 100, 10, "wsd", 0.1, 0.2) for s in range(100)]
    assert wsd[10:80] == [1.0] * 70 and abs(wsd[-1] - 0.1) < 1e-9 and wsd[85] < 1.0
    with pytest.raises(ValueError, match="schedule"):
        lr_multiplier(50, 100, 10, "linear")


def test_muon_gets_only_hidden_matrices():
    config = ModelConfig.from_dict(dict(model_type="gpt_oss", vocab_size=32, hidden_size=32, intermediate_size=32,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        head_dim=8, num_local_experts=4, num_experts_per_tok=2))
    model = Transformer(config)
    hidden, rest = muon_parameters(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim == 2 for p in hidden) and {names[id(p)] for p in hidden} >= {
        "model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.o_proj.weight"}
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.layers.0.mlp.experts.gate_up_proj"} <= \
        {names[id(p)] for p in rest}


def test_orthogonalize_in_bfloat16_is_torchs_newton_schulz():
    from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, _zeropower_via_newtonschulz

    for shape in [(48, 96), (96, 48)]:
        g = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        coefficients = (DEFAULT_A, DEFAULT_B, DEFAULT_C)
        assert torch.equal(orthogonalize(g, coefficients, 5, 1e-7, torch.bfloat16),
                           _zeropower_via_newtonschulz(g, coefficients, 5, 1e-7))
        # float32: singular values in Muon's band around 1, whichever side is longer
        singular = torch.linalg.svdvals(orthogonalize(g, coefficients, 5, 1e-7, torch.float32))
        assert singular.min() > 0.5 and singular.max() < 1.3


@pytest.mark.parametrize("nesterov,adjust", [(True, "match_rms_adamw"), (False, "original")])
def test_muon_on_a_cpu_steps_as_torchs_up_to_its_bfloat16_rounding(nesterov, adjust):
    """openweight's Muon iterates in float32 on a CPU, torch's in bfloat16: three steps (momentum,
    weight decay, the lr adjustment) land within bfloat16's rounding of each other, ~100x closer
    than one step's size, and the state carries over between them."""
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(64, 160, generator=gen)
    ours, theirs = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    settings = dict(lr=0.02, weight_decay=0.1, nesterov=nesterov, adjust_lr_fn=adjust)
    mine, torchs = Muon([ours], **settings), torch.optim.Muon([theirs], **settings)
    for _ in range(3):
        grad = torch.randn(start.shape, generator=gen)
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        mine.step()
        torchs.step()
    with torch.no_grad():
        moved, apart = float((theirs - start).norm()), float((ours - theirs).norm())
    assert apart < 0.02 * moved
    torchs.load_state_dict(mine.state_dict())  # the same state: a checkpoint of either resumes the other
    assert torch.equal(torchs.state[theirs]["momentum_buffer"], mine.state[ours]["momentum_buffer"])


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_loss_goes_down(tmp_path, optimizer):
    subprocess.run([*RUN, str(tmp_path), "30", optimizer], check=True, timeout=300)
    curve = losses(tmp_path)
    assert len(curve) == 30 and curve[-1] < 0.6 * curve[0]
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scored = held_out_records(tmp_path)  # every 4 steps and at the end
    assert [r["step"] for r in scored] == [4, 8, 12, 16, 20, 24, 28, 30]
    assert scored[-1]["heldout_count_loss"] < 0.6 * scored[0]["heldout_count_loss"]
    assert all(0 <= r["heldout_count_exact"] <= 1 for r in scored)


def test_held_out_scoring_leaves_the_training_alone(tmp_path):
    subprocess.run([*RUN, str(tmp_path / "scored"), "12", "muon", "ddp", "4", "-", "2"], check=True, timeout=300)
    subprocess.run([*RUN, str(tmp_path / "plain"), "12", "muon", "ddp", "4", "-", "0"], check=True, timeout=300)
    assert len(held_out_records(tmp_path / "scored")) == 6 and not held_out_records(tmp_path / "plain")
    assert losses(tmp_path / "scored") == losses(tmp_path / "plain")
    scored, plain = (load_file(tmp_path / run / "weights.safetensors") for run in ("scored", "plain"))
    assert all(torch.equal(scored[k], plain[k]) for k in scored)


def test_sigkill_and_resume_ends_with_the_same_weights(tmp_path):
    steps = "120"  # killed at step 40 or soon after, resumed from its last checkpoint (every 2 steps)
    subprocess.run([*RUN, str(tmp_path / "whole"), steps], check=True, timeout=600)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*RUN, str(killed), steps])
    deadline = time.time() + 300
    while time.time() < deadline:
        if (killed / "metrics.jsonl").exists() and len(losses(killed)) >= 40:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "weights.safetensors").exists(), "the run finished before it could be killed"
    subprocess.run([*RUN, str(killed), steps], check=True, timeout=600)
    whole, resumed = load_file(tmp_path / "whole" / "weights.safetensors"), load_file(killed / "weights.safetensors")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert losses(killed) == losses(tmp_path / "whole")  # the metrics log was repaired too


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_reproduce_one(tmp_path, mode):
    """Same global batch (1 x 4 examples x 2 micro-batches = 2 ranks x 2 x 2): the same loss curve, with
    QK-clip on at a tau that clips some heads at most steps. Each rank sees half the batch, so the ranks
    must clip by the largest logit of all of them (without it the curves part by ~1e-3 within 12 steps)."""
    subprocess.run([*RUN, str(tmp_path / "one"), "12", "adamw", "ddp", "4", "0.2"], check=True, timeout=300)
    subprocess.run([*TORCHRUN, "--master_port", str(29600 + (mode == "fsdp")), *RUN[1:], str(tmp_path / "two"),
                    "12", "adamw", mode, "2", "0.2"], check=True, timeout=300,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 12
    assert max(abs(a - b) for a, b in zip(one, two)) < DISTRIBUTED_LOSS_TOL
    scored = [held_out_records(tmp_path / run) for run in ("one", "two")]  # each rank scores half a set
    assert [r["step"] for r in scored[0]] == [r["step"] for r in scored[1]] == [4, 8, 12]
    for a, b in zip(*scored):
        assert abs(a["heldout_count_loss"] - b["heldout_count_loss"]) < DISTRIBUTED_LOSS_TOL
        assert a["heldout_count_exact"] == b["heldout_count_exact"]
    clipped = [[json.loads(line)["clipped_heads"] for line in (tmp_path / run / "metrics.jsonl").read_text()
                .splitlines()] for run in ("one", "two")]
    assert clipped[0] == clipped[1] and sum(clipped[0]) > 0


def test_muon_on_sharded_weights_orthogonalises_whole_matrices(tmp_path):
    """Under FSDP2 each rank holds half of every matrix; Muon must orthogonalise the whole one (DTensor's
    matmuls gather what they need), not each half. On a CPU the iteration runs in float32, so the two
    paths differ by rounding (measured 1.5e-6); the halves' update is ~30% away."""
    out = subprocess.run([*TORCHRUN, "--master_port", "29602", str(Path(__file__).parent / "muon_sharded.py")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["hidden"] > 0
    assert result["to_whole"] < 1e-4 and result["to_halves"] > 0.2
    assert result["others_to_whole"] < 1e-6  # AdamW's weights: elementwise, the same


def test_qk_clip_bounds_the_attention_logits():
    from openweight.model.attention import Attention
    from openweight.train.init import init_weights
    from openweight.train.qk_clip import clip, start_tracking

    config = ModelConfig.from_dict(dict(model_type="llama", vocab_size=32, hidden_size=32, intermediate_size=32,
                                        num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=64))
    model = init_weights(Transformer(config), seed=0, std=1.0).train()
    ids = torch.randint(0, 32, (2, 16), generator=torch.Generator().manual_seed(0))
    start_tracking(model)
    with torch.no_grad():
        model(ids)
    attention = next(m for m in model.modules() if isinstance(m, Attention))
    before = attention.max_logits.clone()
    tau = float(before.min()) * 0.5  # every head is over it
    assert clip(model, tau) == 4
    with torch.no_grad():
        model(ids)
    assert torch.allclose(attention.max_logits, torch.full((4,), tau), rtol=1e-4)


def test_length_windows_group_alike_lengths_and_keep_every_example():
    from openweight.train.data import Batches, Example

    examples = [Example(list(range(n)), [True] * n) for n in range(2, 66)]
    batches = Batches(examples, batch_size=4, accumulation=1, seed=3, window=16)
    steps = [batches.step_examples(s) for s in range(16)]
    assert sorted(len(e.ids) for step in steps for e in step) == list(range(2, 66))  # one epoch, each once
    spreads = [max(len(e.ids) for e in step) - min(len(e.ids) for e in step) for step in steps]
    plain = Batches(examples, batch_size=4, accumulation=1, seed=3)
    plain_spreads = [max(len(e.ids) for e in st) - min(len(e.ids) for e in st)
                     for st in (plain.step_examples(s) for s in range(16))]
    assert sum(spreads) < sum(plain_spreads) / 2


@pytest.mark.parametrize("slowdown, warned", [(10.0, True), (0.6, False)])
def test_bf16_autocast_warns_on_a_cpu_without_bf16_arithmetic(monkeypatch, slowdown, warned):
    """A CPU that emulates bf16 (AVX2 only: products 10-100x slower than float32, measured) gets a
    warning that names the setting; one with AVX512-BF16 or AMX (faster than float32) does not."""
    import warnings

    from openweight.train import trainer

    monkeypatch.setattr(trainer, "half_precision_slowdown", lambda dtype: slowdown)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer._autocast("bfloat16", torch.device("cpu"))
    messages = [str(w.message) for w in caught]
    assert bool(messages) == warned, messages
    if warned:
        assert "10x slower" in messages[0] and "autocast=None" in messages[0]


def test_auto_autocast_is_bf16_where_the_hardware_multiplies_it(monkeypatch, tmp_path):
    """"auto" follows this CPU's measured bf16 speed (here, for real; then as a CPU with and one
    without bf16 arithmetic), and the run folder records what it became."""
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_run import CONFIG, examples

    from openweight.cpu import half_precision_slowdown
    from openweight.train import trainer

    cpu = torch.device("cpu")
    here = "bfloat16" if half_precision_slowdown(torch.bfloat16) <= 2 else None
    assert trainer.resolve_autocast("auto", cpu) == here
    model = Transformer(ModelConfig.from_dict(CONFIG))
    trainer.train(model, examples(), trainer.TrainConfig(steps=1, autocast="auto", progress=False, plot=False),
                  tmp_path)
    assert json.loads((tmp_path / "train_config.json").read_text())["autocast"] == here
    for slowdown, choice in ((10.0, None), (0.6, "bfloat16")):
        monkeypatch.setattr(trainer, "half_precision_slowdown", lambda dtype: slowdown)
        assert trainer.resolve_autocast("auto", cpu) == choice
    assert trainer.resolve_autocast(None, cpu) is None and trainer.resolve_autocast("bfloat16", cpu) == "bfloat16"


def test_bf16_autocast_learns_and_keeps_fp32_weights(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_run import CONFIG, examples

    from openweight.train.init import init_weights
    from openweight.train.trainer import TrainConfig, train

    model = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    config = TrainConfig(steps=30, batch_size=4, accumulation=2, lr=1e-2, warmup=2, autocast="bfloat16",
                         progress=False, plot=False)
    curve = [r["loss"] for r in train(model, examples(), config, tmp_path)]
    assert curve[-1] < 0.6 * curve[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for unsupported in ("int8", "float16"):
        with pytest.raises(ValueError, match="autocast"):
            train(model, examples(), TrainConfig(steps=31, autocast=unsupported, progress=False), tmp_path)



def _six_steps(folder: Path, device: str | None) -> tuple[list[float], torch.nn.Module]:
    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_run import CONFIG, examples, held_out

    from openweight.train.init import init_weights
    from openweight.train.trainer import TrainConfig, train

    model = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    config = TrainConfig(steps=6, batch_size=4, lr=1e-2, warmup=1, eval_every=3, device=device, progress=False,
                         plot=False)
    return [r["loss"] for r in train(model, examples(), config, folder, held_out=held_out())], model


def test_the_run_trains_on_the_device_it_is_given_and_records_it(tmp_path):
    from openweight.errors import RecipeError
    from openweight.train.trainer import TrainConfig

    curve, model = _six_steps(tmp_path, "cpu")
    assert curve[-1] < curve[0] and next(model.parameters()).device.type == "cpu"
    assert json.loads((tmp_path / "train_config.json").read_text())["device"] == "cpu"
    with pytest.raises(RecipeError, match="'device' must be None or a torch device name"):
        TrainConfig(steps=1, device="gpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none here)")
def test_by_default_a_run_trains_on_the_gpu_and_follows_the_cpu_curve(tmp_path):
    """The same 6 steps, held-out scoring included, on the GPU and on the CPU: one loss curve up to
    the kernels' rounding."""
    cpu_curve, _ = _six_steps(tmp_path / "cpu", "cpu")
    gpu_curve, model = _six_steps(tmp_path / "gpu", None)
    assert next(model.parameters()).device.type == "cuda"
    assert json.loads((tmp_path / "gpu" / "train_config.json").read_text())["device"].startswith("cuda")
    assert gpu_curve == pytest.approx(cpu_curve, rel=1e-3)
