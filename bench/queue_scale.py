"""The task queue under many workers: SQLite against PostgreSQL at 1, 4 and 16 worker processes.

Each worker claims and completes tasks until the queue is empty (BENCH_TASKS
tasks in all, three priorities); reported: tasks/s claimed and completed, and
whether every task was handed out exactly once (target: ok on every row).
PostgreSQL is a throw-away server started on 127.0.0.1 (Debian's postgresql).
Run: python bench/queue_scale.py
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

from _timing import report, verdict

TASKS = int(os.environ.get("BENCH_TASKS", "1600"))


def _work(make_queue, worker: str, start, out) -> None:
    queue = make_queue()
    start.wait()
    done = []
    while (task := queue.claim(worker)) is not None:
        queue.complete(task.id)
        done.append(task.id)
    queue.close()
    out.put(done)


def run(make_queue, workers: int) -> tuple[float, bool]:
    queue = make_queue()
    for i in range(TASKS):
        queue.add(f"task {i}", priority=i % 3)
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_work, args=(make_queue, f"w{n}", start, out)) for n in range(workers)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t = time.perf_counter()
    start.set()
    claimed = [out.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - t
    for p in procs:
        p.join()
    every = sorted(i for ids in claimed for i in ids)
    once = len(every) == TASKS and len(set(every)) == TASKS and queue.counts()["completed"] == TASKS
    queue.close()
    return TASKS / elapsed, once


def main() -> None:
    import pytest

    from pxos_kernel.testing.postgres import PostgresUnavailable, postgres_server

    from pxos_agents.queue import PostgresTaskQueue, TaskQueue

    rows = []
    backends = {"sqlite": None, "postgres": None}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 4, 16):
            path = Path(tmp) / f"queue-{workers}.sqlite"
            rate, once = run(functools.partial(TaskQueue, path), workers)
            backends["sqlite"] = backends["sqlite"] or rate
            rows.append((f"sqlite,   {workers:2} worker(s)", f"{rate:7.0f} tasks/s ({rate / backends['sqlite']:.2f}x "
                                                           f"1 worker), each task once: {verdict(once)}"))
    try:
        with postgres_server() as dsn:
            for workers in (1, 4, 16):
                make = functools.partial(PostgresTaskQueue, dsn, schema="bench_" + uuid.uuid4().hex[:10])
                rate, once = run(make, workers)
                backends["postgres"] = backends["postgres"] or rate
                rows.append((f"postgres, {workers:2} worker(s)",
                             f"{rate:7.0f} tasks/s ({rate / backends['postgres']:.2f}x 1 worker), "
                             f"each task once: {verdict(once)}"))
    except (PostgresUnavailable, pytest.skip.Exception) as exc:
        rows.append(("postgres", f"not measured: {exc}"))
    report(f"task queue, {TASKS} tasks claimed and completed, machine has {os.cpu_count()} cores", rows)


if __name__ == "__main__":
    main()
