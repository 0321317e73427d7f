"""`run hello --sandbox` with full isolation (bubblewrap view, PID/net namespaces, cgroup tree limits,
pre and post checkpoints) against spawning `python -c pass` as a subprocess, with bubblewrap's own
start-up (`bwrap <the sandbox's flags> true`) beside it.

Target: at most 1.5x `python -c pass`.
"""

import os
import subprocess
import sys
import tempfile

from _timing import child_env, interleaved, median, report, verdict

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
TARGET = 1.5


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["PXOS_HOME"] = home
        os.environ["PXOS_PLUGINS"] = "kernel"
        from pxos_kernel.core import Kernel
        from pxos_kernel.sandbox import _bwrap_probe, mechanism, protections
        from pxos_kernel.sandbox_view import View, bwrap_command

        chosen, why = mechanism()
        if chosen != "bubblewrap":
            print(f"MISSED: bubblewrap does not work here ({why}); install it: apt-get install bubblewrap")
            sys.exit(1)
        probe = _bwrap_probe()
        bwrap_true = bwrap_command(probe["binary"], View((), (), "/"), ["/usr/bin/true"],
                                   disable_userns=probe["disable_userns"])
        kernel = Kernel(home)
        devnull = open(os.devnull, "w")
        real_stdout = os.dup(1)

        def sandboxed():
            os.dup2(devnull.fileno(), 1)  # hello prints; keep the report readable
            try:
                result = kernel.hypervisor.run_program("hello", sandbox=True)
            finally:
                os.dup2(real_stdout, 1)
            assert result.ok and result.protections["filesystem"] == "bubblewrap", result.error

        env = child_env()
        samples = interleaved({
            "python -c pass": lambda: subprocess.run([sys.executable, "-c", "pass"], env=env, check=True),
            "bwrap true": lambda: subprocess.run(bwrap_true, check=True),
            "sandbox run hello": sandboxed,
        }, ROUNDS)
        held = protections()
        base = median(samples["python -c pass"])
        ours = median(samples["sandbox run hello"])
        ratio = ours / base
        report(f"median of {ROUNDS} interleaved runs; memory {held['memory_limit']['how']}", [
            ("python -c pass (subprocess)", f"{base * 1000:.1f} ms"),
            ("bwrap ... true", f"{median(samples['bwrap true']) * 1000:.1f} ms"),
            ("run hello --sandbox", f"{ours * 1000:.1f} ms  ({ratio:.2f}x; target <= {TARGET}x) "
                                    f"{verdict(ratio <= TARGET)}"),
        ])
        kernel.close()


if __name__ == "__main__":
    main()
