"""Two evaluation reports side by side: what changed in each cell, and whether it is more than noise.

    python -m openweight.evaluate.compare BEFORE/eval.json AFTER/eval.json [--out FOLDER]

A cell is a family at one effort, difficulty, with or without the tool, and with the variations of
its problems (unequal operands, everyday forms); cells only one report has are listed apart. A
change counts as real when the two 95% intervals do not overlap; the summary names the largest gain
and the largest drop, which is what "GRPO raises one family by 10 points without lowering another by
more than 2" asks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import TaskError
from ..weights.atomic import atomic_write_text
from .tasks import family_label


def cell_key(cell: dict) -> tuple:
    """What makes two cells the same measurement (the number of problems may differ)."""
    return (cell["family"], cell["effort"], cell["difficulty"], cell.get("tool", False),
            tuple(cell.get("variations", ())))


def compare(before: dict, after: dict) -> str:
    """A markdown table of the cells both reports have (accuracy before -> after, the change in
    points, 'yes' where the 95% intervals are apart), the largest gain and drop, and the cells only
    one of them has."""
    old, new = ({cell_key(c): c for c in report["cells"]} for report in (before, after))
    shared = [key for key in new if key in old]
    lines = [f"### {before.get('title', 'before')} -> {after.get('title', 'after')}", "",
             "| family | difficulty | effort | tool | before | after | change (points) | intervals apart |",
             "|---|---|---|---|---:|---:|---:|---|"]
    changes = []
    for key in shared:
        a, b = old[key], new[key]
        points = 100 * (b["accuracy"] - a["accuracy"])
        apart = b["ci95"][0] > a["ci95"][1] or b["ci95"][1] < a["ci95"][0]
        family = family_label(key[0], key[4])
        lines.append(f"| {family} | {key[2] or 'mixed'} | {key[1]} | {'calculate' if key[3] else '-'} | "
                     f"{100 * a['accuracy']:.1f}% | {100 * b['accuracy']:.1f}% | {points:+.1f} | "
                     f"{'yes' if apart else 'no'} |")
        changes.append((points, family, key[1]))
    if changes:
        gain, drop = max(changes), min(changes)
        lines += ["", f"Largest gain: {gain[1]} at {gain[2]} effort, {gain[0]:+.1f} points. "
                      f"Largest drop: {drop[1]} at {drop[2]} effort, {drop[0]:+.1f} points."]
    for side, keys in (("before", [k for k in old if k not in new]), ("after", [k for k in new if k not in old])):
        if keys:
            lines += ["", f"Only {side}: " + "; ".join(
                f"{family_label(k[0], k[4])} at {k[1]} effort, difficulty {k[2] or 'mixed'}"
                f"{', calculate' if k[3] else ''}"
                for k in keys) + "."]
    return "\n".join(lines) + "\n"


def read_report(path: Path) -> dict:
    """An eval.json as `openweight eval` writes it; a clear error for anything else."""
    try:
        report = json.loads(Path(path).read_text())
    except OSError as e:
        raise TaskError(f"cannot read the evaluation report {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise TaskError(f"{path} is not JSON ({e.msg}, line {e.lineno}): give the eval.json of `openweight eval`") from None
    if not isinstance(report, dict) or not isinstance(report.get("cells"), list):
        raise TaskError(f"{path} has no 'cells' list: give the eval.json of `openweight eval`")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--out", type=Path, help="also write the table to FOLDER/compare.md")
    args = parser.parse_args(argv)
    try:
        table = compare(read_report(args.before), read_report(args.after))
    except TaskError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "compare.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
