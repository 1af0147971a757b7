"""How many threads PyTorch runs: the physical cores this process may use.

PyTorch counts the host's physical cores, whatever the process is allowed: in a container limited
to 2 CPUs on a 64-core host it starts 64 threads, which then wait on each other at every operator.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch

_CGROUP = Path("/sys/fs/cgroup")


def usable_cores() -> int:
    """Physical cores among the CPUs this process may run on (its affinity), at most its cgroup's
    CPU quota. Two hyper-threads of one core share its arithmetic units: one thread per core."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = len({_core_of(cpu) for cpu in cpus})
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _core_of(cpu: int) -> tuple[str, str]:
    topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
    try:
        return (topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()
    except OSError:  # no topology to read (not Linux): count logical CPUs
        return "cpu", str(cpu)


def cpu_quota(cpu_max: str) -> int | None:
    """CPUs a cgroup v2 `cpu.max` allows ('200000 100000': quota and period in microseconds -> 2;
    '150000 100000' -> 2, a started CPU is a thread; 'max 100000' -> None, no limit)."""
    quota, period = cpu_max.split()[:2]
    return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))


def _cgroup_quota() -> int | None:
    """The tightest cpu.max from this process's cgroup (v2) up to the root, if any sets one."""
    try:
        line = next(line for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    except (OSError, StopIteration):
        return None
    folder, quotas = _CGROUP / line[3:].strip("/"), []
    for path in (folder, *folder.parents):
        try:
            quota = cpu_quota((path / "cpu.max").read_text())
        except (OSError, ValueError):
            quota = None
        if quota:
            quotas.append(quota)
        if path == _CGROUP:
            break
    return min(quotas, default=None)


def use_physical_cores() -> int:
    """Set torch's intra-op threads to usable_cores() (set_threads), unless OMP_NUM_THREADS or
    MKL_NUM_THREADS already chose (torchrun sets OMP_NUM_THREADS for its processes). Returns the
    thread count."""
    if not (os.environ.get("OMP_NUM_THREADS") or os.environ.get("MKL_NUM_THREADS")):
        set_threads(usable_cores())
    return torch.get_num_threads()


def set_threads(count: int) -> None:
    """torch's intra-op threads, set only where the count differs: torch.set_num_threads also turns
    off MKL's dynamic threading, which lets MKL run a small product on fewer threads. With it off,
    the same products split their sums differently (a training run rounds otherwise than one started
    without the call, so its weights differ from the shipped model's bytes) and, with another
    process busy on the same cores, a matrix-vector product took 75 times longer (measured 2026-12-01)."""
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def half_precision_slowdown(dtype: torch.dtype = torch.bfloat16) -> float:
    """How many times longer this CPU takes to multiply `dtype` matrices than float32 ones (best of a
    few [256, 256] x [256, 512] products each). Below 1 where the CPU multiplies bf16 in hardware
    (AVX512-BF16, AMX); 10 to 100 on an AMD EPYC with AVX2 only, which emulates it (measured 2026-12-01)."""
    rng = torch.Generator().manual_seed(0)  # its own: a trainer's seeded global stream stays untouched
    a, b = torch.randn(256, 256, generator=rng), torch.randn(256, 512, generator=rng)

    def best(x: torch.Tensor, y: torch.Tensor) -> float:
        x @ y  # warm-up: first-call allocations and kernel dispatch
        times = []
        for _ in range(3):
            start = time.perf_counter()
            x @ y
            times.append(time.perf_counter() - start)
        return min(times)

    return best(a.to(dtype), b.to(dtype)) / best(a, b)
