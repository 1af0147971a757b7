"""Server metrics in the Prometheus text format.

A handful of counters and two histograms do not justify a client library: the text format is a
few lines per metric (https://prometheus.io/docs/instrumenting/exposition_formats/).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
RATE_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000)


@dataclass
class Histogram:
    buckets: tuple
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * len(self.buckets)
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str) -> list[str]:
        counts = self.counts or [0] * len(self.buckets)
        out = [f'{name}_bucket{{le="{b}"}} {c}' for b, c in zip(self.buckets, counts)]
        return out + [f'{name}_bucket{{le="+Inf"}} {self.count}', f"{name}_sum {self.total}",
                      f"{name}_count {self.count}"]


@dataclass
class Metrics:
    requests: Counter = field(default_factory=Counter)  # (endpoint, status) -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft: Histogram = field(default_factory=lambda: Histogram(TTFT_BUCKETS))
    decode_rate: Histogram = field(default_factory=lambda: Histogram(RATE_BUCKETS))

    def observe_first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def observe_decode_rate(self, tokens_per_second: float) -> None:
        self.decode_rate.observe(tokens_per_second)

    def render(self, engines: dict) -> str:
        """The exposition text; engines: model name -> Engine, for the live gauges."""
        lines = ["# HELP openweight_requests_total HTTP requests by endpoint and status.",
                 "# TYPE openweight_requests_total counter"]
        for (endpoint, status), n in sorted(self.requests.items()):
            lines.append(f'openweight_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
        lines += ["# HELP openweight_prompt_tokens_total Prompt tokens prefilled.",
                  "# TYPE openweight_prompt_tokens_total counter", f"openweight_prompt_tokens_total {self.prompt_tokens}",
                  "# HELP openweight_completion_tokens_total Tokens generated.",
                  "# TYPE openweight_completion_tokens_total counter",
                  f"openweight_completion_tokens_total {self.completion_tokens}",
                  "# HELP openweight_time_to_first_token_seconds From request to first generated token.",
                  "# TYPE openweight_time_to_first_token_seconds histogram",
                  *self.ttft.lines("openweight_time_to_first_token_seconds"),
                  "# HELP openweight_decode_tokens_per_second Per-request decode speed after the first token.",
                  "# TYPE openweight_decode_tokens_per_second histogram",
                  *self.decode_rate.lines("openweight_decode_tokens_per_second"),
                  "# HELP openweight_queue_length Requests waiting for a batch row.",
                  "# TYPE openweight_queue_length gauge"]
        lines += [f'openweight_queue_length{{model="{m}"}} {e.stats.waiting}' for m, e in engines.items()]
        lines += ["# HELP openweight_batch_size Sequences in the last decode step.", "# TYPE openweight_batch_size gauge"]
        lines += [f'openweight_batch_size{{model="{m}"}} {e.stats.batch_size}' for m, e in engines.items()]
        lines += ["# HELP openweight_active_sequences Sequences holding a batch row (decoding or being prefilled).",
                  "# TYPE openweight_active_sequences gauge"]
        lines += [f'openweight_active_sequences{{model="{m}"}} {len(e.rows) + len(e.loading)}'
                  for m, e in engines.items()]
        lines += ["# HELP openweight_decode_steps_total Batched decode steps run.",
                  "# TYPE openweight_decode_steps_total counter"]
        lines += [f'openweight_decode_steps_total{{model="{m}"}} {e.stats.steps}' for m, e in engines.items()]
        return "\n".join(lines) + "\n"
