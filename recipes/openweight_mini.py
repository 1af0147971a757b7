"""openweight-mini: the gpt-oss architecture in miniature, taught the task families by SFT, then GRPO.

Run it with `openweight train recipes/openweight_mini.py` (stages: tokenizer, sft, grpo, export).
Everything is seeded: the same machine and seed give the same weights.
"""

SEED = 0

# vocab_size is a ceiling: the BPE stops merging once every distinct word of its sample is one token
# (digits stay single), at 768 tokens for these conversations.
TOKENIZER = dict(vocab_size=2048, sample_conversations=4000)

# config.json of the model, in transformers' gpt_oss fields.
MODEL = dict(
    model_type="gpt_oss", hidden_size=192, intermediate_size=384, num_hidden_layers=6,
    num_attention_heads=6, num_key_value_heads=2, head_dim=32, max_position_embeddings=2048,
    sliding_window=128, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False,
    rope_scaling={"rope_type": "default"}, rope_theta=10000.0,
)

# autocast="auto": bf16 matmuls where the CPU multiplies bf16 (AVX512-BF16 or AMX), as the shipped
# model's machine did (~1.0 s a step); elsewhere (AVX2 only, which emulates bf16 10-100x slower)
# float32, at ~2,070 tokens/s, ~2.5 h for this stage (2-core AMD EPYC, 2026-12-02).
SFT = dict(
    examples=96000, max_tokens=1024,
    mixture={"add_sub": 1.25, "multiplication": 2.0, "linear": 1.25, "sorting": 0.5, "countdown": 0.75},
    tool_fraction=0.2,
    # Scored every eval_every steps by teacher forcing (metrics.jsonl: heldout_<family>_loss and
    # _exact, the share of traces greedy decoding would reproduce); the weights are the same without.
    held_out_problems=100,
    train=dict(steps=5000, batch_size=8, accumulation=2, lr=3e-3, warmup=100, schedule="wsd",
               optimizer="muon", weight_decay=0.0, clip=1.0, checkpoint_every=50, length_window=32,
               autocast="auto", eval_every=500),
)

GRPO = dict(
    # Sorting at low effort: a reply is ~37 tokens, so a step affords 64 prompts x 8 replies (14
    # groups with mixed results on average; at high effort 16 prompts of linear equations gave ~7,
    # and 64 steps moved nothing: README). Replay keeps the rest: each update also descends the
    # supervised loss on 16 fresh conversations of the SFT mixture (without it, this stage lowered
    # the other families by 10-40 points). From this recipe's SFT model, 68 steps took sorting at low
    # effort from 13.0% to 23.5% (200 held-out problems) with no other cell down by more than 2.0,
    # in 13 minutes (docs/openweight-mini/history.md, 2026-12-02). The shipped model's GRPO run (older
    # code, from an SFT model at 8.8%) needed 224 steps for +10.8 (grpo_runs_2026-11-30.md).
    mixture={"sorting": 1.0},
    efforts=["low"],
    format_weight=0.1,
    eval_problems=300,
    train=dict(steps=68, prompts_per_step=64, group_size=8, max_new_tokens=64, temperature=1.0,
               variant="dapo", clip_low=0.2, clip_high=0.28, updates=2, lr=1e-4, kl_coef=0.05, optimizer="adamw",
               micro_batch=128, checkpoint_every=4, eval_every=8, replay_coef=1.0, replay_batch=16),
)

# Where the finished model goes (bfloat16 weights), from this file's folder: the built-in model
# `openweight.load()` uses.
EXPORT = "../src/openweight/builtin/openweight-mini"
# Which stage's model is shipped (README, "openweight-mini": SFT beside SFT + GRPO).
EXPORT_FROM = "grpo"
