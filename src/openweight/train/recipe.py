"""Run a training recipe file stage by stage, each stage resumable: tokenizer, SFT, GRPO, export.

    openweight train recipes/openweight_mini.py [--out runs/openweight-mini] [--stage sft]
    torchrun --nproc_per_node 2 -m openweight.cli train recipes/openweight_mini.py

Under torchrun the SFT stage runs on every process (DDP or FSDP2, by SFT.train.distributed; its
batch_size is per process); the tokenizer, GRPO and export stages run in the first process alone.
"""

from __future__ import annotations

import json
import random
import runpy
import traceback
from pathlib import Path

import torch
import torch.distributed as dist

from ..chat import harmony
from ..config import ModelConfig
from ..errors import ConfigError, RecipeError
from ..model import Transformer
from ..tasks import VARIATIONS
from ..tasks.traces import TRACE_FORMS, TraceForms
from ..tokenizer import Tokenizer
from . import settings
from .data import Example
from .init import init_weights
from .checkpoint import full_model_state
from .trainer import TrainConfig, close_distributed, join_distributed, train


def load_recipe(path: str | Path) -> dict:
    """The recipe file's names, checked (check_recipe): a mistake is reported before any work starts."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    try:
        recipe = runpy.run_path(str(path))
    except SyntaxError as e:
        raise RecipeError(f"{path}, line {e.lineno}: {e.msg}") from None
    except Exception as e:  # the recipe's own code failed as it ran: name its line, not runpy's
        lines = [frame.lineno for frame in traceback.extract_tb(e.__traceback__) if frame.filename == str(path)]
        where = f", line {lines[-1]}" if lines else ""
        raise RecipeError(f"{path}{where}: {type(e).__name__}: {e}") from None
    try:
        check_recipe(recipe)
    except (RecipeError, ConfigError) as e:
        raise RecipeError(f"{path}: {e}") from None
    return recipe


RECIPE_NAMES = ("SEED", "TOKENIZER", "MODEL", "SFT", "GRPO", "EXPORT", "EXPORT_FROM")
SECTIONS = {  # name -> (keys it must have, keys it may have)
    "TOKENIZER": ({"vocab_size", "sample_conversations"}, set()),
    "SFT": ({"examples", "max_tokens", "mixture", "tool_fraction", "train"},
            {"difficulty_weights", "held_out_problems", *VARIATIONS, *TRACE_FORMS}),
    "GRPO": ({"mixture", "efforts", "train"},
             {"difficulty", "format_weight", "eval_problems", "step_credit", "branch_from_error"}),
}


def check_recipe(recipe: dict) -> None:
    """Every section and setting a recipe gives, as the stages will read them; raises RecipeError."""
    from ..tasks import FAMILIES
    from ..tasks.traces import EFFORTS
    from .grpo import GRPOConfig

    for name in recipe:
        if (setting := _misspelt_setting(name)) is not None:
            raise RecipeError(f"{name} is not a recipe setting; did you mean {setting}?")
    for name in ("SEED", "TOKENIZER", "MODEL", "SFT"):
        if name not in recipe:
            raise RecipeError(f"{name} is missing")
    settings.require(settings.is_int(recipe["SEED"]) and recipe["SEED"] >= 0, "SEED", "an integer >= 0", recipe["SEED"])
    for name, (required, optional) in SECTIONS.items():
        section = recipe.get(name)
        if section is None and name == "GRPO":
            continue
        if not isinstance(section, dict):
            raise RecipeError(f"{name} must be a dict, got {type(section).__name__}")
        if missing := sorted(required - set(section)):
            raise RecipeError(f"{name}: {missing[0]!r} is missing")
        if unknown := sorted(set(section) - required - optional):
            raise RecipeError(f"{name}: unknown key {unknown[0]!r} (known: {', '.join(sorted(required | optional))})")
        if name != "TOKENIZER":
            _check_mixture(section["mixture"], f"{name}.mixture", FAMILIES)
            if isinstance(section["train"], dict) and "seed" in section["train"]:
                raise RecipeError(f"{name}.train: 'seed' is the recipe's SEED")
    for key in ("vocab_size", "sample_conversations"):
        value = recipe["TOKENIZER"][key]
        settings.require(settings.is_int(value) and value >= 1, f"TOKENIZER.{key}", "a positive integer", value)
    try:
        ModelConfig.from_dict({**recipe["MODEL"], "vocab_size": recipe["TOKENIZER"]["vocab_size"]})
    except (ConfigError, TypeError) as e:
        raise RecipeError(f"MODEL: {e}") from None
    for key in ("examples", "max_tokens"):
        value = recipe["SFT"][key]
        settings.require(settings.is_int(value) and value >= 1, f"SFT.{key}", "a positive integer", value)
    fraction = recipe["SFT"]["tool_fraction"]
    settings.require(settings.is_number(fraction) and 0 <= fraction <= 1, "SFT.tool_fraction", "a number from 0 to 1",
                     fraction)
    _check_difficulty_weights(recipe["SFT"].get("difficulty_weights", {}), recipe["SFT"]["mixture"], FAMILIES)
    settings.build(TrainConfig, recipe["SFT"]["train"], "SFT.train")
    shares = {**sft_variations(recipe["SFT"]),
              **{name: recipe["SFT"].get(name, 0) for name in ("caught_slips", "caught_product_slips")}}
    for name, share in shares.items():
        settings.require(settings.is_number(share) and 0 <= share <= 1, f"SFT.{name}", "a number from 0 to 1", share)
    tries = recipe["SFT"].get("countdown_tries", 0)
    settings.require(settings.is_int(tries) and tries >= 0, "SFT.countdown_tries", "an integer >= 0", tries)
    held_out = recipe["SFT"].get("held_out_problems", 0)
    settings.require(settings.is_int(held_out) and held_out >= 0, "SFT.held_out_problems", "an integer >= 0", held_out)
    grpo = recipe.get("GRPO")
    if grpo is not None:
        efforts = grpo["efforts"]
        settings.require(isinstance(efforts, (list, tuple)) and efforts and set(efforts) <= set(EFFORTS),
                         "GRPO.efforts", f"a list of {', '.join(EFFORTS)}", efforts)
        difficulty = grpo.get("difficulty", {})
        settings.require(isinstance(difficulty, dict), "GRPO.difficulty", "a dict of family -> levels", difficulty)
        for family, levels in difficulty.items():
            settings.require(family in grpo["mixture"], "GRPO.difficulty", "keyed by families of GRPO.mixture", family)
            top = FAMILIES[family].max_difficulty
            settings.require(isinstance(levels, (list, tuple)) and levels
                             and all(settings.is_int(d) and 1 <= d <= top for d in levels),
                             f"GRPO.difficulty[{family}]", f"a list of levels from 1 to {top}", levels)
        problems = grpo.get("eval_problems", 200)
        settings.require(settings.is_int(problems) and problems >= 1, "GRPO.eval_problems", "a positive integer",
                         problems)
        weight = grpo.get("format_weight", 0.1)
        settings.require(settings.is_number(weight) and weight >= 0, "GRPO.format_weight", "a number >= 0", weight)
        for flag in ("step_credit", "branch_from_error"):
            settings.require(isinstance(grpo.get(flag, False), bool), f"GRPO.{flag}", "True or False", grpo.get(flag))
        settings.build(GRPOConfig, grpo["train"], "GRPO.train")
    if "EXPORT_FROM" in recipe:
        choices = ("sft", "grpo") if grpo is not None else ("sft",)
        settings.require(recipe["EXPORT_FROM"] in choices, "EXPORT_FROM", " or ".join(map(repr, choices)),
                         recipe["EXPORT_FROM"])


def _misspelt_setting(name: str) -> str | None:
    """The setting `name` is a slip of (two neighbours swapped; from 5 letters, also one letter changed
    or left out), if any. A recipe may define constants of its own: longer ones (SEEDS, SFT2,
    GRPO_LONG) and short words (MODE, SET) pass."""
    if name in RECIPE_NAMES:
        return None
    for setting in RECIPE_NAMES:
        if len(name) == len(setting):
            differ = [i for i, (a, b) in enumerate(zip(name, setting)) if a != b]
            swapped = (len(differ) == 2 and differ[1] == differ[0] + 1
                       and name[differ[0]] == setting[differ[1]] and name[differ[1]] == setting[differ[0]])
            if swapped or (len(differ) == 1 and len(name) >= 5):
                return setting
        elif len(name) == len(setting) - 1 >= 5 and any(setting[:i] + setting[i + 1:] == name
                                                         for i in range(len(setting))):
            return setting
    return None


def _check_mixture(mixture, where: str, families: dict) -> None:
    settings.require(isinstance(mixture, dict) and mixture, where, "a dict of family -> weight", mixture)
    for family, weight in mixture.items():
        settings.require(family in families, where, f"families among {', '.join(families)}", family)
        settings.require(settings.is_number(weight) and weight > 0, f"{where}[{family!r}]", "a number > 0", weight)


def _check_difficulty_weights(weights, mixture: dict, families: dict) -> None:
    where = "SFT.difficulty_weights"
    settings.require(isinstance(weights, dict), where, "a dict of family -> one weight per level", weights)
    for family, levels in weights.items():
        settings.require(family in mixture, where, "keyed by families of SFT.mixture", family)
        top = families[family].max_difficulty
        settings.require(isinstance(levels, (list, tuple)) and len(levels) == top
                         and all(settings.is_number(w) and w >= 0 for w in levels) and sum(levels) > 0,
                         f"{where}[{family!r}]", f"{top} weights >= 0 (levels 1 to {top}), not all 0", levels)


def sft_variations(sft: dict) -> dict[str, float]:
    """The shares of tasks.VARIATIONS an SFT section gives (SFT.unequal_operands, SFT.everyday_forms)."""
    return {name: sft[name] for name in VARIATIONS if name in sft}


def trace_forms(sft: dict) -> TraceForms:
    """The trace forms an SFT section asks for (SFT.caught_slips and the other fields of TraceForms)."""
    return TraceForms(**{name: sft[name] for name in TRACE_FORMS if name in sft})


def sft_conversations(recipe: dict, count: int, seed: int | str) -> list[list[dict]]:
    """`count` conversations of the SFT mixture (tasks.dataset.task_conversations), drawn with `seed`."""
    from ..tasks.dataset import task_conversations

    sft = recipe["SFT"]
    return task_conversations(count, seed, sft["mixture"], sft["tool_fraction"],
                              difficulty_weights=sft.get("difficulty_weights"), variations=sft_variations(sft),
                              forms=trace_forms(sft))


def train_tokenizer(recipe: dict, out: Path) -> Tokenizer:
    folder = out / "tokenizer"
    if (folder / "tokenizer.json").exists():
        return Tokenizer.from_folder(folder)
    spec = recipe["TOKENIZER"]
    texts = [harmony.render(c, for_training=True)
             for c in sft_conversations(recipe, spec["sample_conversations"], recipe["SEED"] + 1)]
    tokenizer = Tokenizer.train(texts, spec["vocab_size"], list(harmony.SPECIAL_TOKENS), eos_token="<|return|>",
                                chat_template=harmony.chat_template())
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(folder)
    return tokenizer


def sft_examples(recipe: dict, tokenizer: Tokenizer, count: int | None = None,
                 seed: int | str | None = None) -> list[Example]:
    """The SFT data: of `count` conversations (by default SFT.examples) drawn with `seed` (by default
    the recipe's SEED), those that fit in SFT.max_tokens."""
    sft = recipe["SFT"]
    out = []
    for messages in sft_conversations(recipe, sft["examples"] if count is None else count,
                                      recipe["SEED"] if seed is None else seed):
        ids, mask = harmony.render_ids(messages, tokenizer, for_training=True)
        if len(ids) <= sft["max_tokens"]:
            out.append(Example(ids, mask))
    return out


def held_out_sets(recipe: dict, tokenizer: Tokenizer) -> dict[str, list[Example]]:
    """SFT.held_out_problems held-out problems a family of SFT.mixture, as their traces at medium and
    high effort in turn, without the tool, in the trace forms SFT teaches, with nothing drawn at
    random (no slip, no Countdown misses): what the SFT trainer scores every SFT.train.eval_every steps.
    The problems are the plain ones whatever the SFT variations, so runs with and without compare."""
    from ..tasks import FAMILIES
    from ..tasks.traces import conversation

    count = recipe["SFT"].get("held_out_problems", 0)
    forms = trace_forms(recipe["SFT"]).drawing_nothing()
    sets = {}
    for family in recipe["SFT"]["mixture"] if count else ():
        rng = random.Random(f"{recipe['SEED']}-held-out-{family}")
        sets[family] = []
        for i in range(count):
            problem = FAMILIES[family].sample(rng, split="test")
            messages = conversation(problem, ("medium", "high")[i % 2], rng, forms=forms)
            sets[family].append(Example(*harmony.render_ids(messages, tokenizer, for_training=True)))
    return sets


def model_config(recipe: dict, tokenizer: Tokenizer) -> ModelConfig:
    return ModelConfig.from_dict({**recipe["MODEL"], "vocab_size": tokenizer.vocab_size,
                                  "eos_token_id": tokenizer.token_id("<|return|>"),
                                  "pad_token_id": tokenizer.token_id("<|endoftext|>")})


def run_sft(recipe: dict, out: Path) -> Path:
    """Train from scratch on the task traces; export a Hugging Face folder to out/sft/model."""
    from ..api import LM

    rank, world = join_distributed()
    tokenizer = Tokenizer.from_folder(out / "tokenizer")  # run() made it
    config = model_config(recipe, tokenizer)
    torch.manual_seed(recipe["SEED"])
    model = init_weights(Transformer(config), recipe["SEED"])
    examples = sft_examples(recipe, tokenizer)
    stats = {"examples": len(examples), "tokens": sum(len(e.ids) for e in examples),
             "learnt_tokens": sum(sum(e.mask) for e in examples),
             "parameters": sum(p.numel() for p in model.parameters())}
    (out / "sft").mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "sft" / "data_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    train(model, examples, TrainConfig(**recipe["SFT"]["train"], seed=recipe["SEED"]), out / "sft",
          pad_id=config.pad_token_id or 0, held_out=held_out_sets(recipe, tokenizer))
    if world > 1:  # FSDP2 left each process a shard of every weight: gather them into a plain model
        weights = full_model_state(model)  # every rank takes part; rank 0 gets the tensors
        if rank == 0:
            model = Transformer(config)
            model.load_state_dict(weights)
    if rank == 0:
        LM(model, tokenizer).save(out / "sft" / "model")
    return out / "sft" / "model"


def run_grpo(recipe: dict, out: Path) -> Path:
    """Reinforcement learning from the SFT model on task rewards; export to out/grpo/model."""
    from .. import load
    from ..api import LM
    from ..evaluate.tasks import evaluate_cell, task_prompt
    from ..tasks import FAMILIES
    from ..tasks.reward import score_reply, task_reward
    from ..tasks.step_check import first_wrong_token
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
        """The reply token where its first wrong arithmetic step begins (tasks.step_check), counted
        after the item's prefix (item[2], the greedy reply's right work a branched group starts from)."""
        prefix = item[2]
        return first_wrong_token([lm.tokenizer.decode([token]) for token in prefix + reply], len(prefix))

    def heldout(model) -> float:
        """Greedy accuracy on held-out problems of the trained families and efforts: seed 1, so not
        the problems `openweight eval` reports on (seed 0)."""
        cells = [evaluate_cell(LM(model, lm.tokenizer), family, effort, spec.get("eval_problems", 200), seed=1)
                 for family in names for effort in spec["efforts"]]
        return sum(c.correct for c in cells) / sum(c.problems for c in cells)

    def replay(step: int) -> list[Example]:
        """The step's conversations of the SFT mixture, fresh ones (not the SFT run's own seed)."""
        return sft_examples(recipe, lm.tokenizer, config.replay_batch, seed=f"{recipe['SEED']}:replay:{step}")

    train_grpo(lm.model, branched if spec.get("branch_from_error") else problems, reward, config, out / "grpo", stops,
               pad_id=lm.config.pad_token_id or 0, heldout=heldout,
               first_error=first_error if spec.get("step_credit") else None, replay=replay)
    LM(lm.model, lm.tokenizer).save(out / "grpo" / "model")
    return out / "grpo" / "model"


def export(out: Path, stage: str, destination: Path) -> None:
    """The built-in model: weights in bfloat16 (half the bytes; loaded back to float32)."""
    from .. import load

    lm = load(out / stage / "model")
    lm.model.to(torch.bfloat16)
    lm.save(destination)
    print(f"exported {out / stage / 'model'} to {destination} in bfloat16 (in a git checkout, "
          f"`git checkout -- {destination}` brings back the committed model)")


STAGES = ("tokenizer", "sft", "grpo", "export", "all")


def run(path: str | Path, out: str | Path, stage: str = "all") -> None:
    """Run the recipe at `path` into the run folder `out`: every stage, or one of STAGES. A stage that
    finished is not run again; one that was killed resumes from its last checkpoint."""
    if stage not in STAGES:
        raise RecipeError(f"unknown stage {stage!r} ({', '.join(STAGES)})")
    recipe, out = load_recipe(path), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rank, world = join_distributed()
    if rank == 0 and stage in ("tokenizer", "sft", "all"):
        train_tokenizer(recipe, out)
    if world > 1:
        dist.barrier()  # the others read the tokenizer the first process wrote
    if stage in ("sft", "all") and not (out / "sft" / "model" / "config.json").exists():
        run_sft(recipe, out)
    if world > 1:  # the rest runs in one process
        close_distributed()
        if rank != 0:
            return
    if stage in ("grpo", "all") and recipe.get("GRPO") is not None:
        run_grpo(recipe, out)
    if stage in ("export", "all") and "EXPORT" in recipe:
        last = "grpo" if (out / "grpo" / "model" / "config.json").exists() else "sft"
        export(out, recipe.get("EXPORT_FROM", last), Path(path).parent / recipe["EXPORT"])  # EXPORT: from the recipe
