"""Shared helpers for the benchmark scripts: side-by-side timing and ratio printing."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Callable, Sequence


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Time each candidate ``rounds`` times, alternating between them so that load hits all alike."""
    for _ in range(warmup):
        for run in candidates.values():
            run()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return samples


def command(argv: Sequence[str], env: dict | None = None) -> Callable[[], None]:
    """A candidate that runs a command to completion (output discarded, failure is fatal)."""

    def run() -> None:
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    return run


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def report(title: str, rows: Sequence[tuple[str, str]]) -> None:
    print(title)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")


def verdict(ok: bool) -> str:
    """What every benchmark prints beside a target."""
    return "ok" if ok else "MISSED"


def child_env(**extra: str) -> dict:
    """The environment for timed child processes: bytecode is cached (as it is for a user), plus ``extra``.

    With PYTHONDONTWRITEBYTECODE set (as in some sandboxes) every start would
    compile every module from source, which no user's installation does.
    """
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env
