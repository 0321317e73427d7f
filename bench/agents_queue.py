"""Task queue throughput: tasks per second claimed (and completed) by 4 worker processes against 1.

Each worker loops claim -> complete on one shared SQLite queue until it is
empty. Run: python bench/agents_queue.py [--tasks N] [--repeats R]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from pxos_agents.queue import TaskQueue


def _worker(path: Path, name: str, start, counts) -> None:
    queue = TaskQueue(path)
    start.wait()
    done = 0
    while (task := queue.claim(name)) is not None:
        queue.complete(task.id)
        done += 1
    queue.close()
    counts.put(done)


def run(workers: int, tasks: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "queue.sqlite"
        queue = TaskQueue(path)
        for i in range(tasks):
            queue.add(f"task {i}", priority=i % 5, phase="bench")
        queue.close()
        ctx = multiprocessing.get_context("fork")
        start, counts = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(path, f"w{n}", start, counts)) for n in range(workers)]
        for p in procs:
            p.start()
        time.sleep(0.2)  # let every worker open the queue before the clock starts
        began = time.perf_counter()
        start.set()
        total = sum(counts.get(timeout=600) for _ in procs)
        elapsed = time.perf_counter() - began
        for p in procs:
            p.join()
        assert total == tasks, f"{total} of {tasks} tasks were claimed"
        return tasks / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rates = {1: [], 4: []}
    for _ in range(args.repeats):
        for workers in (1, 4):  # interleaved, so machine load affects both alike
            rates[workers].append(run(workers, args.tasks))
    one, four = statistics.median(rates[1]), statistics.median(rates[4])
    print(f"queue claim+complete, {args.tasks} tasks, median of {args.repeats}:")
    print(f"  1 worker : {one:8.0f} tasks/s")
    print(f"  4 workers: {four:8.0f} tasks/s")
    print(f"  ratio 4 workers / 1 worker: {four / one:.2f}x  (cores: {multiprocessing.cpu_count()})")


if __name__ == "__main__":
    main()
