"""Cold start of `pxos-kernel plugins` (every installed plugin) against `python -c pass`.

Target: at most 60 ms above the bare interpreter. Children run with bytecode caching on
(PYTHONDONTWRITEBYTECODE removed from their environment), as a user's installation has it.
"""

import os
import sys
import tempfile
from pathlib import Path

from _timing import child_env, command, interleaved, median, report, verdict

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))


def main() -> None:
    script = Path(sys.executable).with_name("pxos-kernel")
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "pxos_kernel"]
    with tempfile.TemporaryDirectory() as home:
        # A user's start-up: no PXOS_HOME, so the kernel finds its home the platform's way (here in a
        # scratch XDG_DATA_HOME, so that the benchmark touches nothing of this machine's).
        env = child_env(XDG_DATA_HOME=home)
        env.pop("PXOS_HOME", None)
        samples = interleaved({
            "python -c pass": command([sys.executable, "-c", "pass"], env),
            "pxos-kernel plugins": command([*argv, "plugins"], env),
            "pxos-kernel --version": command([*argv, "--version"], env),
        }, ROUNDS)
    base = median(samples["python -c pass"])
    plugins = median(samples["pxos-kernel plugins"])
    report(f"cold start, median of {ROUNDS} interleaved runs", [
        ("python -c pass", f"{base * 1000:.1f} ms"),
        ("pxos-kernel plugins", f"{plugins * 1000:.1f} ms  ({plugins / base:.2f}x, +{(plugins - base) * 1000:.1f} ms; "
                                f"target at most +60 ms) {verdict(plugins - base <= 0.060)}"),
        ("pxos-kernel --version", f"{median(samples['pxos-kernel --version']) * 1000:.1f} ms"),
    ])


if __name__ == "__main__":
    main()
