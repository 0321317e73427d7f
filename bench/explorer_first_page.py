"""Time to the first page of a 100,000-record ledger in the explorer, against `ledger query -n 50`.

Both start from nothing: the CLI is a new process that prints the first 50 records; the explorer
is a new `pxos-kernel explore` process, timed until its ledger page and the page's first 50
records (newest first, as the timeline shows them) have been served. Also printed: the same
page from an explorer already running (what a user clicking "Ledger" waits for).
Target: cold explorer at most 1.5x the CLI.

Run: python bench/explorer_first_page.py [--records N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _explorer import Explorer  # noqa: E402
from _timing import child_env, median, report  # noqa: E402

TARGET = 1.5


def fill(home: Path, count: int, sink: str) -> None:
    from pxos_kernel import Kernel

    (home / "config.yaml").write_text(f"defaults:\n  sink: {sink}\n")
    with Kernel(home, env={"PXOS_HOME": str(home)}) as kernel:
        ledger = kernel.ledger
        for i in range(count):
            ledger.append("RUN", "run_program", {"program": "hello", "status": "ok", "i": i},
                          corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST" if i % 2 else "DISTRICT_4.CHAMBER_EXEC.NODE_PRE")


def explorer_cold(home: Path) -> float:
    """Seconds from starting the explorer to having its ledger page and first 50 records (not its shutdown)."""
    start = time.perf_counter()
    explorer = Explorer(home)
    try:
        status, page, _ = explorer.get("/ledger")
        status2, records, _ = explorer.get("/api/ledger?page=1&limit=50")
        elapsed = time.perf_counter() - start
        assert status == status2 == 200 and records.count(b'"seq"') == 50, (status, status2, records[:200])
    finally:
        explorer.stop()
    return elapsed


def cli_query(env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pxos_kernel", "ledger", "query", "-n", "50"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def wait_until_indexed(explorer: Explorer) -> None:
    import json

    for _ in range(600):
        status = json.loads(explorer.get("/api/ledger/status")[1])
        if status["index"]["state"] == "ready" and status["verify"]["state"] == "done":
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sink", action="append", choices=("jsonl", "sqlite"),
                        help="ledger sink(s) to measure (default: both)")
    args = parser.parse_args()
    for sink in args.sink or ("jsonl", "sqlite"):
        measure(args, sink)


def measure(args: argparse.Namespace, sink: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        started = time.perf_counter()
        fill(home, args.records, sink)
        print(f"filled a {args.records:,}-record {sink} ledger in {time.perf_counter() - started:.1f}s")
        env = {k: v for k, v in child_env().items() if not k.startswith("PXOS_")}  # bytecode cached, as for a user
        env["PXOS_HOME"] = str(home)
        samples: dict[str, list[float]] = {"cli": [], "explorer": []}
        cli_query(env), explorer_cold(home)  # warm the page cache
        for _ in range(args.rounds):
            samples["cli"].append(cli_query(env))
            samples["explorer"].append(explorer_cold(home))
        running = Explorer(home)
        try:
            wait_until_indexed(running)
            warm = []
            for _ in range(20):
                start = time.perf_counter()
                running.get("/ledger")
                running.get("/api/ledger?page=1&limit=50")
                warm.append(time.perf_counter() - start)
        finally:
            running.stop()
    cli_s, cold_s = median(samples["cli"]), median(samples["explorer"])
    ratio = cold_s / cli_s
    report(f"first page of a {args.records:,}-record {sink} ledger (medians of {args.rounds})", [
        ("ledger query -n 50 (new process)", f"{cli_s * 1000:.0f} ms"),
        ("explore: start + page + first 50 records", f"{cold_s * 1000:.0f} ms  ({ratio:.2f}x the CLI)"),
        ("explore, already running: page + first 50", f"{median(warm) * 1000:.1f} ms  ({median(warm) / cli_s:.3f}x)"),
    ])
    print(f"target ({sink}): cold explorer <= {TARGET}x the CLI: {'ok' if ratio <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
