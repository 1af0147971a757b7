"""Scoring replies, Wilson intervals, and the eval command on a small random harmony model."""

import json
import random

import pytest

from openweight import harmony
from openweight.chat.harmony import SPECIAL_TOKENS
from openweight.evaluate.tasks import Cell, applied_variations, distinct_problems, report, wilson_interval
from openweight.tasks import FAMILIES, families
from openweight.tasks.reward import score_reply, task_reward
from openweight.tasks.tools import answer_tool_call, calculate
from openweight.tasks.checked import SLIP_FOUND
from openweight.tasks.traces import TraceForms, conversation
from openweight.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    rng = random.Random(0)
    texts = [harmony.render(conversation(FAMILIES[n].sample(rng), "high", rng), for_training=True)
             for n in FAMILIES for _ in range(20)]
    return Tokenizer.train(texts, 600, list(SPECIAL_TOKENS), eos_token="<|return|>")


def reply_ids(messages, tokenizer):
    """What the model writes after the prompt's '<|start|>assistant'."""
    full, mask = harmony.render_ids(messages, tokenizer, for_training=True)
    prompt, _ = harmony.render_ids([m for m in messages if m["role"] != "assistant"], tokenizer)
    return full[len(prompt):]


def test_a_right_reply_scores_and_a_wrong_one_does_not(tokenizer):
    rng = random.Random(1)
    problem = FAMILIES["add_sub"].sample(rng, 4)
    messages = conversation(problem, "high", rng)
    good = score_reply(problem, reply_ids(messages, tokenizer), tokenizer)
    assert good.correct and good.well_formed and good.reasoning_tokens > 10
    assert task_reward(good) == 1.1
    wrong = [*messages[:-1], {**messages[-1], "content": str(int(problem.answer) + 1)}]
    bad = score_reply(problem, reply_ids(wrong, tokenizer), tokenizer)
    assert not bad.correct and bad.well_formed and task_reward(bad) == pytest.approx(0.1)
    cut = reply_ids(messages, tokenizer)[:-1]  # no <|return|>: the model ran out of tokens
    assert not score_reply(problem, cut, tokenizer).well_formed
    garbage = tokenizer.encode_plain("just text")
    assert score_reply(problem, garbage, tokenizer) .correct is False


def test_eval_problems_are_distinct_and_a_small_space_gives_what_it_has():
    products = distinct_problems("multiplication", 500, seed=0, difficulty=1)  # 1-digit: ~4 held out
    assert 0 < len(products) < 10 and len({p.key for p in products}) == len(products)
    assert all(p.held_out for p in products)
    mixed = distinct_problems("multiplication", 500, seed=0)
    assert len(mixed) == 500 and len({p.key for p in mixed}) == 500
    assert distinct_problems("multiplication", 500, seed=0) == mixed  # seeded


def test_eval_can_ask_for_operands_of_unequal_length_and_everyday_forms():
    sums = distinct_problems("add_sub", 100, seed=0, difficulty=5, variations=("unequal_operands",))
    assert len(sums) == 100 and all(p.held_out for p in sums)
    assert all(len({len(str(sums[i].data[0])), len(str(sums[i].data[2]))}) == 2 for i in range(100))
    everyday = families(everyday_forms=1.0)["multiplication"].EVERYDAY_FORMS["*"]
    products = distinct_problems("multiplication", 100, seed=0, variations=("everyday_forms",))
    assert all(p.prompt in {f.format(a=p.data[0], b=p.data[1]) for f in everyday} for p in products)
    both = ("unequal_operands", "everyday_forms")
    cell = Cell("add_sub", "high", 5, 100, 40, 100, 90.0, variations=both)
    data, table = report([cell], "t")
    assert data["cells"][0]["variations"] == list(both)
    assert "| add_sub, unequal operands, everyday forms | 5 | high |" in table


def test_a_cell_names_only_the_variations_that_change_its_problems():
    both = ("unequal_operands", "everyday_forms")
    assert applied_variations("multiplication", both, None) == both
    assert applied_variations("add_sub", both, 1) == ("everyday_forms",)  # 1 digit has no shorter operand
    assert all(applied_variations(family, both, None) == () for family in ("linear", "sorting", "countdown"))


def test_the_table_says_which_cells_hold_fewer_problems_than_asked():
    cells = [Cell("multiplication", "high", 1, 7, 7, 7, 20.0), Cell("add_sub", "high", 1, 500, 490, 500, 20.0)]
    _, table = report(cells, "t", asked=500)
    assert table.rstrip().endswith("asked for in: multiplication at high effort (7).")
    assert "Fewer" not in report(cells[1:], "t", asked=500)[1]


def test_the_table_counts_the_replies_that_caught_a_slip():
    cells = [Cell("add_sub", "high", None, 500, 480, 500, 400.0, slips_caught=30, right_after_catch=26),
             Cell("linear", "high", None, 500, 300, 500, 400.0)]
    data, table = report(cells, "t")
    assert [(c["slips_caught"], c["right_after_catch"]) for c in data["cells"]] == [(30, 26), (0, 0)]
    assert table.rstrip().endswith("worked again: add_sub at high effort 30 (26 then right).")


def test_a_reply_that_catches_its_slip_is_counted(tokenizer):
    rng = random.Random(2)
    problem = FAMILIES["add_sub"].sample(rng, 6)
    messages = conversation(problem, "high", rng, forms=TraceForms(caught_slips=1.0))
    score = score_reply(problem, reply_ids(messages, tokenizer), tokenizer)
    assert score.correct and SLIP_FOUND in score.reasoning
    plain = conversation(problem, "high", rng, forms=TraceForms(caught_slips=0.0))
    assert SLIP_FOUND not in score_reply(problem, reply_ids(plain, tokenizer), tokenizer).reasoning


def test_wilson_interval():
    low, high = wilson_interval(50, 100)
    assert 0.40 < low < 0.41 and 0.59 < high < 0.60
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == 1
    assert wilson_interval(500, 500)[0] > 0.99


def test_eval_command_writes_json_and_markdown(make_hf_model, tokenizer, tmp_path):
    from openweight.cli import main

    hf = make_hf_model("gpt_oss", vocab_size=tokenizer.vocab_size, max_position_embeddings=2048)
    hf.save_pretrained(tmp_path / "model")
    tokenizer.save(tmp_path / "model")
    assert main(["eval", "--model", str(tmp_path / "model"), "--tasks", "add_sub,sorting", "--effort", "low,high",
                 "--problems", "3", "--max-new-tokens", "24", "--out", str(tmp_path / "eval")]) == 0
    data = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert [(c["family"], c["effort"]) for c in data["cells"]] == [
        ("add_sub", "low"), ("add_sub", "high"), ("sorting", "low"), ("sorting", "high")]
    assert all(c["problems"] == 3 and 0 <= c["accuracy"] <= 1 for c in data["cells"])
    assert all(sum(v["problems"] for v in c["by_difficulty"].values()) == 3 for c in data["cells"])
    assert "| add_sub |" in (tmp_path / "eval" / "eval.md").read_text()
    assert not (tmp_path / "eval" / "replies.jsonl").exists()  # only when asked for
    assert main(["eval", "--model", str(tmp_path / "model"), "--tasks", "linear", "--effort", "medium",
                 "--problems", "4", "--max-new-tokens", "16", "--save-replies", "--out", str(tmp_path / "kept")]) == 0
    replies = [json.loads(line) for line in (tmp_path / "kept" / "replies.jsonl").read_text().splitlines()]
    cell = json.loads((tmp_path / "kept" / "eval.json").read_text())["cells"][0]
    assert len(replies) == 4 and len({r["prompt"] for r in replies}) == 4
    assert all(r["family"] == "linear" and r["expected"].startswith("x = ") and r["reply"] for r in replies)
    assert sum(r["correct"] for r in replies) == round(cell["accuracy"] * 4)
    assert sum(r["reasoning_tokens"] for r in replies) / 4 == cell["reasoning_tokens"]
    _, table = report([], "empty")
    assert table.startswith("### empty")


def test_report_breaks_a_mixed_cell_down_by_difficulty():
    mixed = Cell("sorting", "high", None, 10, 7, 10, 300.0, False, {1: [5, 5], 2: [2, 5]})
    fixed = Cell("countdown", "low", 2, 4, 1, 4, 3.0, False, {2: [1, 4]})
    data, table = report([mixed, fixed], "t")
    assert data["cells"][0]["by_difficulty"] == {"1": {"problems": 5, "accuracy": 1.0},
                                                 "2": {"problems": 5, "accuracy": 0.4}}
    rows = table.splitlines()
    assert rows[-2].endswith("| 10 | 1: 100% · 2: 40% |") and rows[-1].endswith("| 4 | - |")


def test_calculate_is_exact_and_explains_bad_input():
    assert calculate("1234 * 5678") == "7006652"
    assert calculate("(7 - 3) / 6") == "2/3"
    assert calculate("2 ** 10").startswith("error:") and calculate("1/0").startswith("error:")
    assert calculate("1+" * 5000 + "1").startswith("error:")


def test_a_tool_call_is_answered_as_the_trained_conversation_continues(tokenizer):
    rng = random.Random(4)
    problem = FAMILIES["multiplication"].sample(rng, 4)
    messages = conversation(problem, "high", rng, with_tool=True)
    full, _ = harmony.render_ids(messages, tokenizer, for_training=True)
    prompt, _ = harmony.render_ids(messages[:3], tokenizer)  # system, developer (the tool), user
    reply = full[len(prompt):]
    call_end = reply.index(tokenizer.token_id("<|call|>")) + 1
    answer = answer_tool_call(reply[:call_end], tokenizer)
    assert tokenizer.decode(answer) == (f"<|start|>functions.calculate to=assistant<|channel|>commentary"
                                        f"<|message|>{problem.answer}<|end|><|start|>assistant")
    assert full[:len(prompt) + call_end + len(answer)] == prompt + reply[:call_end] + answer
    assert answer_tool_call(reply[:call_end - 1], tokenizer) is None  # no call made (yet)
