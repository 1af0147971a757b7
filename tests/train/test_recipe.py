"""A whole recipe (tokenizer, SFT, GRPO, export), run as users run it: twice, the same bytes both times;
under torchrun, the same SFT as one process."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

RECIPE = '''
SEED = 3
TOKENIZER = dict(vocab_size=400, sample_conversations=60)
MODEL = dict(model_type="gpt_oss", hidden_size=32, intermediate_size=32, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
             sliding_window=16, num_local_experts=4, num_experts_per_tok=2)
SFT = dict(examples=48, max_tokens=400, mixture={{"add_sub": 1.0, "countdown": 1.0}}, tool_fraction=0.2,
           held_out_problems=4,
           train=dict(steps=3, batch_size=4, lr=1e-3, warmup=1, checkpoint_every=2, eval_every=2, plot=False))
GRPO = dict(mixture={{"add_sub": 1.0}}, difficulty={{"add_sub": [2, 3]}}, efforts=["low"],
            branch_from_error=True, step_credit=True,
            train=dict(steps=2, prompts_per_step=2, group_size=2, max_new_tokens=12, checkpoint_every=1,
                       replay_coef=0.5, replay_batch=2, plot=False))
EXPORT = "{export}"
'''


def sha256(folder: Path) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_the_recipe_rerun_gives_the_same_weights(tmp_path):
    digests = []
    for run in ("first", "second"):
        recipe = tmp_path / f"{run}.py"
        # The second names its export from the recipe's folder, not from where the command runs.
        recipe.write_text(RECIPE.format(export=tmp_path / run / "export" if run == "first" else f"{run}/export"))
        out = subprocess.run([sys.executable, "-m", "openweight.cli", "train", str(recipe), "--out",
                              str(tmp_path / run)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"to {tmp_path / run / 'export'} in bfloat16" in out.stdout
        records = [json.loads(line) for line in (tmp_path / run / "grpo" / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == 2 and all(r["replay_loss"] > 0 for r in records)
        sft = [json.loads(line) for line in (tmp_path / run / "sft" / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in sft if "heldout_add_sub_loss" in r and "heldout_countdown_exact" in r] == [2, 3]
        digests.append(sha256(tmp_path / run / "export"))
    assert digests[0] == digests[1]


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_the_recipe_under_torchrun_trains_sft_on_every_process_and_the_rest_on_one(tmp_path, mode):
    """Two processes of 2 conversations a step against one of 4: the same SFT loss curve and weights
    (within float32 rounding of the order the two sum in), then GRPO and export in the first process."""
    recipe = RECIPE.format(export=tmp_path / "{run}" / "export")
    one = tmp_path / "one.py"
    one.write_text(recipe.replace("{run}", "one"))
    out = subprocess.run([sys.executable, "-m", "openweight.cli", "train", str(one), "--out", str(tmp_path / "one"),
                          "--stage", "sft"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    two = tmp_path / "two.py"
    two.write_text(recipe.replace("{run}", "two").replace("batch_size=4,", f"batch_size=2, distributed={mode!r},"))
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                          str(29610 + (mode == "fsdp")), "-m", "openweight.cli", "train", str(two), "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    curves = [[json.loads(line)["loss"] for line in (tmp_path / run / "sft" / "metrics.jsonl").read_text().splitlines()]
              for run in ("one", "two")]
    assert len(curves[1]) == 3 and max(abs(a - b) for a, b in zip(*curves)) < 1e-5
    held_out = [[json.loads(line).get("heldout_add_sub_loss") for line in
                 (tmp_path / run / "sft" / "metrics.jsonl").read_text().splitlines()] for run in ("one", "two")]
    assert held_out[0][0] is None and abs(held_out[0][1] - held_out[1][1]) < 1e-5  # each process scored half
    weights = [load_file(tmp_path / run / "sft" / "model" / "model.safetensors") for run in ("one", "two")]
    assert weights[0].keys() == weights[1].keys()
    assert max((weights[0][k] - weights[1][k]).abs().max().item() for k in weights[0]) < 1e-5
    assert len((tmp_path / "two" / "grpo" / "metrics.jsonl").read_text().splitlines()) == 2  # written once
    assert (tmp_path / "two" / "export" / "model.safetensors").exists()



def test_held_out_traces_take_the_forms_the_recipe_teaches_with_nothing_drawn_at_random():
    from openweight.registry import BUILT_IN
    from openweight.tokenizer import Tokenizer
    from openweight.train.recipe import held_out_sets, load_recipe

    recipe = load_recipe(Path(__file__).parents[2] / "recipes" / "openweight_mini.py")
    tokenizer = Tokenizer.from_folder(BUILT_IN["openweight-mini"])
    recipe["SFT"].update(held_out_problems=20)
    plain = held_out_sets(recipe, tokenizer)
    recipe["SFT"].update(caught_slips=0.5, caught_product_slips=0.5, countdown_tries=6)
    checked = held_out_sets(recipe, tokenizer)
    countdown = [tokenizer.decode(e.ids) for e in checked["countdown"][1::2]]
    assert all(t.count("Try ") == 1 for t in countdown)  # no misses drawn: the trace the model can predict
    for family, check in (("add_sub", " should give "), ("linear", " should be "), ("multiplication", "by nines")):
        medium = [tokenizer.decode(e.ids) for e in checked[family][::2]]
        assert medium == [tokenizer.decode(e.ids) for e in plain[family][::2]]  # the same problems
        high = checked[family][1::2]  # medium and high in turn
        texts = [tokenizer.decode(e.ids) for e in high]
        assert all(check in t and ": a slip" not in t for t in texts)
        assert all(all(e.mask[e.mask.index(True):]) for e in high)  # all of the reply learnt
