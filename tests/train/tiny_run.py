"""A tiny training run for the trainer tests:
`python tiny_run.py OUT_DIR STEPS [optimizer] [distributed] [batch] [qk_clip tau] [eval_every]`.

It learns to continue counting sequences, and is scored every eval_every steps (default 4; 0: never)
on shorter ones that start where none it trains on does. Its final weights land in
OUT_DIR/weights.safetensors.
"""

import sys

import torch
from safetensors.torch import save_file

from openweight.config import ModelConfig
from openweight.model import Transformer
from openweight.train.checkpoint import full_model_state
from openweight.train.data import Example
from openweight.train.init import init_weights
from openweight.train.trainer import TrainConfig, close_distributed, train

CONFIG = dict(model_type="gpt_oss", vocab_size=32, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
              sliding_window=4, num_local_experts=4, num_experts_per_tok=2)


def examples() -> list[Example]:
    out = []
    for start in range(24):
        ids = [(start + i) % 32 for i in range(12)]
        out.append(Example(ids, [False] * 4 + [True] * 8))
    return out


def held_out() -> dict[str, list[Example]]:
    return {"count": [Example([(start + i) % 32 for i in range(9)], [False] * 3 + [True] * 6)
                      for start in range(24, 32)]}


def main() -> None:
    out_dir, steps = sys.argv[1], int(sys.argv[2])
    optimizer = sys.argv[3] if len(sys.argv) > 3 else "adamw"
    distributed = sys.argv[4] if len(sys.argv) > 4 else "ddp"
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    qk_clip = float(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[6] != "-" else None
    eval_every = int(sys.argv[7]) if len(sys.argv) > 7 else 4
    torch.set_num_threads(1)
    model = init_weights(Transformer(ModelConfig.from_dict(CONFIG)), seed=0)
    config = TrainConfig(steps=steps, batch_size=batch, accumulation=2, lr=1e-2, warmup=2, optimizer=optimizer,
                         checkpoint_every=2, distributed=distributed, qk_clip=qk_clip, progress=False,
                         eval_every=eval_every)
    train(model, examples(), config, out_dir, held_out=held_out())
    weights = full_model_state(model)  # every rank takes part; under FSDP only rank 0 gets the tensors
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        save_file({k: v.contiguous() for k, v in weights.items()}, f"{out_dir}/weights.safetensors")
    close_distributed()


if __name__ == "__main__":
    main()
