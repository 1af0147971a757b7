"""Comparing two evaluation reports: per-cell changes, whether they exceed the noise, the extremes."""

import json
from pathlib import Path

from openweight.evaluate.compare import compare, main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openweight-mini"


def test_the_shipped_grpo_stage_against_its_sft_model():
    """The README's reading of the shipped model: sorting at low effort +10.8 with the intervals apart,
    and the one cell of another family down by more than 2 points, Countdown at medium effort."""
    before, after = (json.loads((DOCS / name).read_text()) for name in ("eval_sft.json", "eval_grpo.json"))
    table = compare(before, after)
    assert "| sorting | mixed | low | - | 8.8% | 19.6% | +10.8 | yes |" in table
    assert "| countdown | mixed | medium | - | 11.6% | 8.8% | -2.8 | no |" in table
    assert "Largest gain: sorting at low effort, +10.8 points. Largest drop: countdown at medium effort, -2.8" in table
    assert len([line for line in table.splitlines() if line.startswith("| ") and "%" in line]) == 15


def test_cells_only_one_report_has_are_named_and_bad_files_get_a_clear_error(tmp_path, capsys):
    cell = {"family": "add_sub", "effort": "high", "difficulty": 8, "tool": False, "accuracy": 0.9,
            "ci95": [0.87, 0.93]}
    lopsided = {**cell, "variations": ["unequal_operands"], "accuracy": 0.3, "ci95": [0.25, 0.35]}
    (tmp_path / "a.json").write_text(json.dumps({"title": "a", "cells": [cell]}))
    (tmp_path / "b.json").write_text(json.dumps({"title": "b", "cells": [cell, lopsided]}))
    assert main([str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| add_sub | 8 | high | - | 90.0% | 90.0% | +0.0 | no |" in table and "Only after: add_sub, unequal operands at high effort, difficulty 8." in table
    (tmp_path / "bad.json").write_text("{not json")
    assert main([str(tmp_path / "a.json"), str(tmp_path / "bad.json")]) == 2
    assert "bad.json is not JSON" in capsys.readouterr().err
    assert main([str(tmp_path / "a.json"), str(tmp_path / "missing.json")]) == 2
    assert "cannot read the evaluation report" in capsys.readouterr().err
