"""A recipe's mistakes are reported before any work starts, naming the section and setting at fault."""

import pytest

from openweight.cli import main
from openweight.errors import RecipeError
from openweight.train.grpo import GRPOConfig
from openweight.train.recipe import load_recipe
from openweight.train.trainer import TrainConfig

GOOD = '''
SEED = 3
TOKENIZER = dict(vocab_size=400, sample_conversations=60)
MODEL = dict(model_type="gpt_oss", hidden_size=32, intermediate_size=32, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=1024,
             sliding_window=16, num_local_experts=4, num_experts_per_tok=2)
SFT = dict(examples=48, max_tokens=400, mixture={"add_sub": 1.0, "countdown": 1.0}, tool_fraction=0.2,
           train=dict(steps=3, batch_size=4, lr=1e-3, warmup=1))
GRPO = dict(mixture={"add_sub": 1.0}, difficulty={"add_sub": [2, 3]}, efforts=["low"],
            train=dict(steps=2, prompts_per_step=2, group_size=2, max_new_tokens=12))
EXPORT_FROM = "sft"
'''


def recipe_file(tmp_path, text: str):
    path = tmp_path / "recipe.py"
    path.write_text(text)
    return path


def test_a_good_recipe_loads(tmp_path):
    assert load_recipe(recipe_file(tmp_path, GOOD))["SEED"] == 3


@pytest.mark.parametrize("change, named", [
    (("lr=1e-3", "lrr=1e-3"), "SFT.train: unknown setting 'lrr'"),
    (("steps=3", "steps=0"), "SFT.train: 'steps' must be a positive integer, got 0"),
    (("warmup=1)", "warmup=1, schedule='linear')"), "SFT.train: 'schedule' must be 'cosine' or 'wsd'"),
    (("max_new_tokens=12)", "max_new_tokens=12, variant='ppo')"), "GRPO.train: 'variant' must be"),
    (("group_size=2", "group_size=1"), "GRPO.train: 'group_size' must be an integer >= 2"),
    (('efforts=["low"]', 'efforts=["extreme"]'), "'GRPO.efforts' must be a list of low, medium, high"),
    (('"countdown": 1.0}', '"chess": 1.0}'), "'SFT.mixture' must be families among"),
    (('[2, 3]', '[2, 9]'), "'GRPO.difficulty[add_sub]' must be a list of levels from 1 to 8, got [2, 9]"),
    (('difficulty={"add_sub": [2, 3]}', 'difficulty={"sorting": [2]}'), "'GRPO.difficulty' must be keyed by families"),
    (("efforts=[", "eval_problems=0, efforts=["), "'GRPO.eval_problems' must be a positive integer, got 0"),
    (("train=dict(steps=3, ", "train=dict("), "SFT.train: 'steps' is missing"),
    (("GRPO = dict(", "GRPO = None\nUNUSED = dict("), None),  # no GRPO stage
    (('EXPORT_FROM = "sft"', 'EXPORT_FROM = "grpo"\nGRPO = None'), "'EXPORT_FROM' must be 'sft', got 'grpo'"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, epochs=2,"), "SFT: unknown key 'epochs'"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, difficulty_weights={'countdown': [1, 2, 1]},"), None),
    (("tool_fraction=0.2,", "tool_fraction=0.2, difficulty_weights={'countdown': [1, 2]},"),
     "'SFT.difficulty_weights['countdown']' must be 3 weights >= 0 (levels 1 to 3), not all 0, got [1, 2]"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, difficulty_weights={'linear': [1, 1, 1]},"),
     "'SFT.difficulty_weights' must be keyed by families of SFT.mixture, got 'linear'"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, unequal_operands=0.3,"), None),
    (("tool_fraction=0.2,", "tool_fraction=0.2, unequal_operands=1.5,"),
     "'SFT.unequal_operands' must be a number from 0 to 1, got 1.5"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, everyday_forms=0.25,"), None),
    (("tool_fraction=0.2,", "tool_fraction=0.2, everyday_forms='some',"),
     "'SFT.everyday_forms' must be a number from 0 to 1, got 'some'"),
    (("examples=48", "examples=0"), "'SFT.examples' must be a positive integer, got 0"),
    (("max_tokens=400", "max_tokens='many'"), "'SFT.max_tokens' must be a positive integer, got 'many'"),
    (("tool_fraction=0.2,", "tool_fraction='x',"), "'SFT.tool_fraction' must be a number from 0 to 1, got 'x'"),
    (("SEED = 3", "SEED = 3\nSTEPS = 5000 // STEPS_PER_HOUR"), "recipe.py, line 3: NameError: name 'STEPS_PER_HOUR'"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, caught_slips=0.3,"), None),
    (("tool_fraction=0.2,", "tool_fraction=0.2, caught_slips=-0.1,"),
     "'SFT.caught_slips' must be a number from 0 to 1, got -0.1"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, countdown_tries=6,"), None),
    (("tool_fraction=0.2,", "tool_fraction=0.2, caught_product_slips=2,"),
     "'SFT.caught_product_slips' must be a number from 0 to 1, got 2"),
    (("tool_fraction=0.2,", "tool_fraction=0.2, countdown_tries=2.5,"),
     "'SFT.countdown_tries' must be an integer >= 0, got 2.5"),
    (("sample_conversations=60", "samples=60"), "TOKENIZER: 'sample_conversations' is missing"),
    (("head_dim=8,", "head_dim=8, model_type2=1,"), None),  # MODEL takes config.json's fields as they come
    (('"gpt_oss"', '"gpt_nano"'), "MODEL: config field 'model_type': unsupported value 'gpt_nano'"),
    (('EXPORT_FROM = "sft"', 'EXPORT_FROM = "best"'), "'EXPORT_FROM' must be 'sft' or 'grpo'"),
    (("SEED = 3", "SEED = None"), "'SEED' must be an integer >= 0"),
    (("train=dict(steps=3,", "train=dict(seed=1, steps=3,"), "SFT.train: 'seed' is the recipe's SEED"),
    (('EXPORT_FROM = "sft"', 'EXPORT_FORM = "sft"'), "EXPORT_FORM is not a recipe setting; did you mean EXPORT_FROM?"),
    (('EXPORT_FROM = "sft"', 'EXPRT_FROM = "sft"'), "EXPRT_FROM is not a recipe setting; did you mean EXPORT_FROM?"),
    (("SEED = 3", "SEED = 3\nSEDE = 4"), "SEDE is not a recipe setting; did you mean SEED?"),
    (("SEED = 3", "SEED = 3\nSTEPS = 5\nSEEDS = [1, 2]\nMODELS = 2\nSFT2 = 1\nMODE = 1\nSET = 1\nsft_steps = 5"),
     None),  # the recipe's own constants
])
def test_each_mistake_is_named(tmp_path, change, named):
    path = recipe_file(tmp_path, GOOD.replace(*change))
    if named is None:
        load_recipe(path)
        return
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    assert str(caught.value).startswith(str(path)) and named in str(caught.value)


def test_the_command_fails_at_once_with_the_message_and_writes_nothing(tmp_path, capsys):
    path = recipe_file(tmp_path, GOOD.replace("max_new_tokens=12)", "max_new_tokens=12, micro_batch=0)"))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "'micro_batch' must be a positive integer, got 0" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main(["train", str(tmp_path / "missing.py")]) == 2
    assert "missing.py: no such recipe file" in capsys.readouterr().err
    recipe_file(tmp_path, "SEED = 3\nSFT = dict(\n")
    assert main(["train", str(path)]) == 2
    assert "recipe.py, line 2" in capsys.readouterr().err


def test_the_settings_classes_check_their_fields_when_built_directly():
    with pytest.raises(RecipeError, match="'micro_batch' must be a positive integer, got 0"):
        GRPOConfig(steps=1, micro_batch=0)
    with pytest.raises(RecipeError, match="'min_lr_ratio' must be a number from 0 to 1, got 2"):
        TrainConfig(steps=1, min_lr_ratio=2)
    with pytest.raises(RecipeError, match="'decay_fraction' must be a number above 0 and at most 1, got 0"):
        TrainConfig(steps=1, schedule="wsd", decay_fraction=0)
