"""Training curves from metrics.jsonl as a PNG: every numeric metric against the step."""

from __future__ import annotations

import json
from pathlib import Path

from ..weights.atomic import atomic_write

SKIP = {"step", "elapsed_s", "tokens"}


def plot_metrics(metrics: Path, png: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not records:
        return
    names = [k for k, v in records[0].items() if k not in SKIP and isinstance(v, (int, float))]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True, squeeze=False)
    steps = [r["step"] for r in records]
    for ax, name in zip(axes[:, 0], names):
        ax.plot(steps, [r.get(name) for r in records], linewidth=1.2)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
