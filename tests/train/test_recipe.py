"""A whole recipe (tokenizer, SFT, GRPO, export), run twice as users run it: the same bytes both times."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

RECIPE = '''
SEED = 3
TOKENIZER = dict(vocab_size=400, sample_conversations=60)
MODEL = dict(model_type="gpt_oss", hidden_size=32, intermediate_size=32, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
             sliding_window=16, num_local_experts=4, num_experts_per_tok=2)
SFT = dict(examples=48, max_tokens=400, mixture={{"add_sub": 1.0, "countdown": 1.0}}, tool_fraction=0.2,
           train=dict(steps=3, batch_size=4, lr=1e-3, warmup=1, checkpoint_every=2, plot=False))
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
        recipe.write_text(RECIPE.format(export=tmp_path / run / "export"))
        out = subprocess.run([sys.executable, "-m", "openweight.cli", "train", str(recipe), "--out",
                              str(tmp_path / run)], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        records = [json.loads(line) for line in (tmp_path / run / "grpo" / "metrics.jsonl").read_text().splitlines()]
        assert len(records) == 2 and all(r["replay_loss"] > 0 for r in records)
        digests.append(sha256(tmp_path / run / "export"))
    assert digests[0] == digests[1]
