"""`run hello` in the sandbox (child process, limits, scratch dir, no network, pre and post
checkpoints) against spawning `python -c pass` as a subprocess.

Target: at most 1.5x.
"""

import os
import subprocess
import sys
import tempfile

from _timing import interleaved, median, report

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["PXOS_HOME"] = home
        os.environ["PXOS_PLUGINS"] = "kernel"
        from pxos_kernel.core import Kernel

        kernel = Kernel(home)
        devnull = open(os.devnull, "w")
        real_stdout = os.dup(1)

        def sandboxed():
            os.dup2(devnull.fileno(), 1)  # hello prints; keep the report readable
            try:
                result = kernel.hypervisor.run_program("hello", sandbox=True)
            finally:
                os.dup2(real_stdout, 1)
            assert result.ok, result.error

        samples = interleaved({
            "python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], check=True),
            "sandbox run hello": sandboxed,
            "in-process run hello": lambda: (os.dup2(devnull.fileno(), 1),
                                             kernel.hypervisor.run_program("hello"), os.dup2(real_stdout, 1)),
        }, ROUNDS)
        from pxos_kernel.sandbox import network_isolation_available

        base = median(samples["python -c pass"])
        ours = median(samples["sandbox run hello"])
        report(f"median of {ROUNDS} interleaved runs (network isolation: {network_isolation_available()})", [
            ("python -c pass (subprocess)", f"{base * 1000:.1f} ms"),
            ("sandbox run hello", f"{ours * 1000:.1f} ms  ({ours / base:.2f}x; target <= 1.5x)"),
            ("in-process run hello", f"{median(samples['in-process run hello']) * 1000:.2f} ms"),
        ])
        kernel.close()


if __name__ == "__main__":
    main()
