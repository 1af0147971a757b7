"""Training curves from metrics.jsonl as a PNG: every numeric metric against the step."""

from __future__ import annotations

import json
from pathlib import Path

from ..weights.atomic import atomic_write

SKIP = {"step", "elapsed_s", "tokens"}


def running_mean(values: list, window: int) -> list[float | None]:
    """The mean of the last `window` values at each point (fewer at the start); None values skipped."""
    out = []
    for i in range(len(values)):
        recent = [v for v in values[max(0, i - window + 1): i + 1] if v is not None]
        out.append(sum(recent) / len(recent) if recent else None)
    return out


def plot_metrics(metrics: Path, png: Path, title: str = "", names: list[str] | None = None) -> None:
    """One panel per metric (`names`, or every numeric one), against the step."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    if not records:
        return
    if names is None:
        names = list(dict.fromkeys(k for r in records for k, v in r.items()
                                   if k not in SKIP and isinstance(v, (int, float))))
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 * len(names)), sharex=True, squeeze=False,
                             layout="constrained")  # leaves the title its own room
    window = max(1, len(records) // 10)
    for ax, name in zip(axes[:, 0], names):
        points = [(r["step"], r[name]) for r in records if isinstance(r.get(name), (int, float))]
        steps, values = [s for s, _ in points], [v for _, v in points]
        if len(points) < len(records) // 2:  # measured now and then (held-out accuracy): show each point
            ax.plot(steps, values, marker="o", linewidth=1.2)
        else:
            ax.plot(steps, values, linewidth=0.8, alpha=0.45 if window > 1 else 1.0)
            if window > 1:  # per-step values are noisy (each step sees other data): a running mean shows the trend
                ax.plot(steps, running_mean(values, window), linewidth=1.6, color="C0", label=f"mean of {window}")
                ax.legend(loc="best", fontsize=7, frameon=False)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    if title:
        fig.suptitle(title)
    atomic_write(png, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
