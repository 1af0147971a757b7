"""Run a training recipe file stage by stage, each stage resumable: tokenizer, then SFT.

    openweight train recipes/openweight_mini.py [--out runs/openweight-mini] [--stage sft]
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import torch

from ..chat import harmony
from ..config import ModelConfig
from ..model import Transformer
from ..tokenizer import Tokenizer
from .data import Example
from .init import init_weights
from .trainer import TrainConfig, train


def load_recipe(path: str | Path) -> dict:
    return runpy.run_path(str(path))


def train_tokenizer(recipe: dict, out: Path) -> Tokenizer:
    from ..tasks.dataset import task_conversations

    folder = out / "tokenizer"
    if (folder / "tokenizer.json").exists():
        return Tokenizer.from_folder(folder)
    spec, sft = recipe["TOKENIZER"], recipe["SFT"]
    texts = [harmony.render(c, for_training=True)
             for c in task_conversations(spec["sample_conversations"], recipe["SEED"] + 1, sft["mixture"],
                                         sft["tool_fraction"])]
    tokenizer = Tokenizer.train(texts, spec["vocab_size"], list(harmony.SPECIAL_TOKENS), eos_token="<|return|>",
                                chat_template=harmony.chat_template())
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)
    return tokenizer


def sft_examples(recipe: dict, tokenizer: Tokenizer) -> list[Example]:
    from ..tasks.dataset import task_conversations

    sft = recipe["SFT"]
    out = []
    for messages in task_conversations(sft["examples"], recipe["SEED"], sft["mixture"], sft["tool_fraction"]):
        ids, mask = harmony.render_ids(messages, tokenizer, for_training=True)
        if len(ids) <= sft["max_tokens"]:
            out.append(Example(ids, mask))
    return out


def model_config(recipe: dict, tokenizer: Tokenizer) -> ModelConfig:
    return ModelConfig.from_dict({**recipe["MODEL"], "vocab_size": tokenizer.vocab_size,
                                  "eos_token_id": tokenizer.token_id("<|return|>"),
                                  "pad_token_id": tokenizer.token_id("<|endoftext|>")})


def run_sft(recipe: dict, out: Path) -> Path:
    """Train from scratch on the task traces; export a Hugging Face folder to out/sft/model."""
    from ..api import LM

    tokenizer = train_tokenizer(recipe, out)
    config = model_config(recipe, tokenizer)
    torch.manual_seed(recipe["SEED"])
    model = init_weights(Transformer(config), recipe["SEED"])
    examples = sft_examples(recipe, tokenizer)
    stats = {"examples": len(examples), "tokens": sum(len(e.ids) for e in examples),
             "learnt_tokens": sum(sum(e.mask) for e in examples),
             "parameters": sum(p.numel() for p in model.parameters())}
    (out / "sft").mkdir(parents=True, exist_ok=True)
    (out / "sft" / "data_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    train(model, examples, TrainConfig(**recipe["SFT"]["train"], seed=recipe["SEED"]), out / "sft",
          pad_id=config.pad_token_id or 0)
    LM(model, tokenizer).save(out / "sft" / "model")
    return out / "sft" / "model"


def run_grpo(recipe: dict, out: Path) -> Path:
    """Reinforcement learning from the SFT model on task rewards; export to out/grpo/model."""
    import random
    from itertools import accumulate

    from .. import load
    from ..api import LM
    from ..evaluate.tasks import evaluate_cell, task_prompt
    from ..tasks import FAMILIES
    from ..tasks.reward import score_reply, task_reward
    from ..tasks.step_check import check_steps
    from .branching import branch_at_first_errors
    from .grpo import GRPOConfig, train_grpo

    spec = recipe["GRPO"]
    lm = load(out / "sft" / "model")
    names = list(spec["mixture"])
    stops = {lm.tokenizer.token_id("<|return|>"), lm.tokenizer.token_id("<|call|>")}
    config = GRPOConfig(**spec["train"], seed=recipe["SEED"])

    def problems(step: int, n: int):
        """n training problems, each (problem, effort, prefix of the reply: none yet), and their prompts."""
        rng = random.Random(f"{recipe['SEED']}:grpo:{step}")
        items = []
        for _ in range(n):
            family = FAMILIES[rng.choices(names, [spec["mixture"][k] for k in names])[0]]
            levels = spec.get("difficulty", {}).get(family.name)  # None: any difficulty
            level = rng.choice(levels) if levels else None
            items.append((family.sample(rng, level, split="train"), rng.choice(spec["efforts"]), []))
        return items, [task_prompt(problem, effort, lm.tokenizer) for problem, effort, _ in items]

    def branched(step: int, n: int):
        """n groups, as many as can be starting at the current model's first wrong step (train.branching)
        on twice n problems."""
        items, ids = problems(step, 2 * n)
        pairs, prompts = branch_at_first_errors(
            lm.model, items, ids, n, config.max_new_tokens, stops, first_error=first_error,
            correct=lambda item, reply: score_reply(item[0], reply, lm.tokenizer).correct)
        return [(problem, effort, prefix) for (problem, effort, _), prefix in pairs], prompts

    def reward(item, reply):
        problem, _, prefix = item
        score = score_reply(problem, prefix + reply, lm.tokenizer)
        return task_reward(score, spec.get("format_weight", 0.1)), score.correct

    def first_error(item, reply: list[int]) -> int | None:
        """The reply token that starts the line of its first wrong arithmetic step (tasks.step_check);
        with a prefix (item[2]), counted in the part after it."""
        prefix = item[2] if item else []
        pieces = [lm.tokenizer.decode([token]) for token in prefix + reply]
        wrong = check_steps("".join(pieces)).first_wrong
        if wrong is None:
            return None
        return max(0, next(i for i, end in enumerate(accumulate(map(len, pieces))) if end > wrong) - len(prefix))

    def heldout(model) -> float:
        """Greedy accuracy on held-out problems of the trained families and efforts: seed 1, so not
        the problems `openweight eval` reports on (seed 0)."""
        cells = [evaluate_cell(LM(model, lm.tokenizer), family, effort, spec.get("eval_problems", 200), seed=1)
                 for family in names for effort in spec["efforts"]]
        return sum(c.correct for c in cells) / sum(c.problems for c in cells)

    train_grpo(lm.model, branched if spec.get("branch_from_error") else problems, reward, config, out / "grpo", stops,
               pad_id=lm.config.pad_token_id or 0, heldout=heldout,
               first_error=first_error if spec.get("step_credit") else None)
    LM(lm.model, lm.tokenizer).save(out / "grpo" / "model")
    return out / "grpo" / "model"


def export(recipe: dict, out: Path, stage: str, destination: Path) -> None:
    """The built-in model: weights in bfloat16 (half the bytes; loaded back to float32)."""
    from .. import load

    lm = load(out / stage / "model")
    lm.model.to(torch.bfloat16)
    lm.save(destination)


STAGES = ("tokenizer", "sft", "grpo", "export", "all")


def run(path: str | Path, out: str | Path, stage: str = "all") -> None:
    recipe, out = load_recipe(path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} ({', '.join(STAGES)})")
    if stage == "tokenizer":
        train_tokenizer(recipe, out)
    if stage in ("sft", "all") and not (out / "sft" / "model" / "config.json").exists():
        run_sft(recipe, out)
    if stage in ("grpo", "all") and "GRPO" in recipe:
        run_grpo(recipe, out)
    if stage in ("export", "all") and "EXPORT" in recipe:
        last = "grpo" if (out / "grpo" / "model" / "config.json").exists() else "sft"
        export(recipe, out, recipe.get("EXPORT_FROM", last), Path(recipe["EXPORT"]))
