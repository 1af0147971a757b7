"""Evaluate a model on the cells that issue 4's targets name, 200 held-out problems each.

    python tools/eval_targets.py [MODEL] [--out FOLDER] [--problems N] [--max-new-tokens N]

MODEL defaults to the built-in openweight-mini. Writes FOLDER/eval.json and FOLDER/eval.md in the
format of `openweight eval` (docs/openweight-mini/eval_*_targets.md were written this way).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import openweight
from openweight.evaluate.tasks import evaluate_cell, write_report

# (family, effort, difficulty, calculate tool offered)
TARGET_CELLS = [
    ("add_sub", "high", 8, False),          # >= 99% on 8-digit addition/subtraction
    ("multiplication", "low", 3, False),    # the effort knob on 3x3-digit products...
    ("multiplication", "high", 3, False),   # ... and >= 95% at high effort
    ("countdown", "low", 2, False),         # the effort knob on 4-number Countdown...
    ("countdown", "high", 2, False),        # ... and >= 60% at high effort
    ("multiplication", "high", 4, True),    # 4x4-digit products: >= 95% with the tool...
    ("multiplication", "high", 4, False),   # ... clearly less without
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="openweight-mini")
    parser.add_argument("--out", type=Path, default=Path("eval_targets"))
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=1024, help="a reply's budget, as openweight eval's")
    args = parser.parse_args()
    lm = openweight.load(args.model)
    cells = [evaluate_cell(lm, family, effort, args.problems, difficulty=difficulty, with_tool=tool,
                           max_new_tokens=args.max_new_tokens)
             for family, effort, difficulty, tool in TARGET_CELLS]
    print(write_report(cells, f"{args.model}: the target cells, {args.problems} held-out problems each", args.out,
                       asked=args.problems))


if __name__ == "__main__":
    main()
