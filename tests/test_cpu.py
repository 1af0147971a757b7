"""Threads: the physical cores the process may use, not the host's; how fast bf16 products are."""

import os
import subprocess
import sys

import pytest
import torch

from openweight.cpu import cpu_quota, half_precision_slowdown, usable_cores


def test_cgroup_quota_reads_as_whole_cpus():
    assert cpu_quota("200000 100000\n") == 2
    assert cpu_quota("150000 100000") == 2  # a CPU and a half: two threads
    assert cpu_quota("50000 100000") == 1
    assert cpu_quota("max 100000") is None


def test_usable_cores_is_at_most_the_cpus_allowed():
    assert 1 <= usable_cores() <= len(os.sched_getaffinity(0))


def _threads_after_cli(env_threads: str | None) -> int:
    """torch's thread count after `openweight info` in a process allowed on CPU 0 only."""
    code = ("import os, torch; os.sched_setaffinity(0, {0}); from openweight.cli import main; "
            "main(['info']); print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if env_threads:
        env["OMP_NUM_THREADS"] = env_threads
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to restrict the process to one")
def test_the_command_line_runs_one_thread_per_usable_core_unless_told():
    assert _threads_after_cli(None) == 1  # torch alone would count the host's cores
    assert _threads_after_cli("2") == 2  # OMP_NUM_THREADS is the user's choice


def test_a_thread_count_already_right_is_left_alone(monkeypatch):
    """Setting it again would turn off MKL's dynamic threading, and change how products round."""
    from openweight import cpu

    calls = []
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 3)
    monkeypatch.setattr(cpu.torch, "set_num_threads", calls.append)
    monkeypatch.setattr(cpu.torch, "get_num_threads", lambda: 3)
    cpu.use_physical_cores()
    assert calls == []
    monkeypatch.setattr(cpu.torch, "get_num_threads", lambda: 8)
    cpu.use_physical_cores()
    assert calls == [3]


def test_half_precision_slowdown_is_a_measured_ratio():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    ratio = half_precision_slowdown(torch.bfloat16)
    assert 0 < ratio < float("inf")
    assert torch.equal(torch.rand(3), expected)  # a seeded training run's random stream is left as it was
