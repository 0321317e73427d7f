"""`evolve build` of a one-line patch to one plugin, against running that plugin's tests directly.

The system cartridge (the kernel and pxos-pixelfs, carrying pixelfs' tests)
is packed and registered once, untimed. Then, in turns:

* ``pxos-kernel evolve build`` of a proposal changing one line of
  pxos_pixelfs (a docstring), which unpacks the parent, patches it, judges the
  breaking change, packs, runs pixelfs' tests and the storage conformance suite
  in the sandbox, every guardrail, the benchmark figures, packs again and
  registers;
* ``python -m pytest plugins/pxos-pixelfs/tests`` in the checkout, directly.

Target: the build takes at most 2x the direct test run. The build's own
timings say where its time goes (unpack and patch, tests, guardrails, pack,
benchmarks ...).
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import child_env, median, report, verdict

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REPO = Path(__file__).resolve().parents[1]
TARGET = "plugins/pxos-pixelfs/pxos_pixelfs/pixelfs.py"
LINE = '"""``pixelfs://KEY``: every object is one pixel container, ``ROOT/KEY.pxi``, a real PNG.'


def cli(env: dict, *argv: str) -> str:
    done = subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pxos-kernel {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return done.stdout


def one_line_patch(turn: int) -> str:
    source = (REPO / TARGET).read_text()
    assert LINE in source, f"{TARGET} no longer starts with the line this benchmark changes"
    changed = source.replace(LINE, LINE[:-1] + f" (turn {turn}).", 1)
    return "".join(difflib.unified_diff(source.splitlines(True), changed.splitlines(True), f"a/{TARGET}",
                                        f"b/{TARGET}"))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pxos-bench-evolve-") as work:
        env = child_env(PXOS_HOME=str(Path(work) / "home"))
        env.pop("PXOS_PLUGINS", None)
        archive = Path(work) / "pxos.pxa"
        cli(env, "world", "pack", "--plugins", "pxos-pixelfs", "--tests", "pxos-pixelfs", "-o", str(archive))
        parent = json.loads(cli(env, "world", "register", str(archive), "--by", "bench", "--json"))["version"]
        builds, direct, stages = [], [], []
        for turn in range(ROUNDS):
            patch = Path(work) / f"turn-{turn}.patch"
            patch.write_text(one_line_patch(turn))
            proposal = json.loads(cli(env, "evolve", "propose", "--cartridge", "pxos", "--parent", parent,
                                      "--goal", "a one-line change", "--patch", str(patch), "--reason", "benchmark",
                                      "--json"))["proposal"]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "pxos_kernel", "evolve", "build", proposal, "--json"],
                                  env=env, capture_output=True, text=True)
            builds.append(time.perf_counter() - started)
            result = json.loads(done.stdout)
            if result["status"] != "experimental":
                raise SystemExit(f"the benchmark's build failed at {result['stage']}: {result['reason']}")
            stages.append(result["timings"])
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "plugins/pxos-pixelfs/tests"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            direct.append(time.perf_counter() - started)
    build, tests = median(builds), median(direct)
    ratio = build / tests
    spent = {stage: median([s.get(stage, 0.0) for s in stages]) for stage in stages[0]}
    report(f"median of {ROUNDS} turns, build and direct run taken in turns", [
        ("pixelfs tests, directly", f"{tests:.1f} s"),
        ("evolve build (one-line patch)", f"{build:.1f} s  ({ratio:.2f}x; target <= 2x: {verdict(ratio <= 2.0)})"),
        *[(f"  {stage}", f"{seconds:.2f} s") for stage, seconds in spent.items()],
    ])


if __name__ == "__main__":
    main()
