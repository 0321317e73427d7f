"""`pxos-kernel cartridge test greeter` (unpack, pytest in the sandbox with full isolation, ledger records)
against running the greeter example's pytest directly in an unpacked copy.

Also shown: the sandboxed run of the tests alone (pxos_cartridge.testrun.run_tests, in-process), so
the CLI's own start-up and the registry's bookkeeping can be told apart from the sandbox.

Target: at most 1.3x the direct pytest run.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import child_env, interleaved, median, report, verdict

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
TARGET = 1.3
GREETER = Path(__file__).resolve().parents[1] / "plugins" / "pxos-cartridge" / "examples" / "greeter"


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        home = Path(work) / "home"
        env = child_env(PXOS_HOME=str(home), PXOS_PLUGINS="kernel,cartridge,pixelfs")
        os.environ.update({"PXOS_HOME": str(home), "PXOS_PLUGINS": env["PXOS_PLUGINS"]})
        from pxos_cartridge.archive import open_archive, pack_tree
        from pxos_cartridge.registry import CartridgeRegistry
        from pxos_cartridge.testrun import DEFAULT_COMMAND, run_tests
        from pxos_kernel.core import Kernel
        from pxos_kernel.sandbox import mechanism

        chosen, why = mechanism()
        if chosen != "bubblewrap":
            print(f"MISSED: bubblewrap does not work here ({why}); install it: apt-get install bubblewrap")
            sys.exit(1)
        archive = Path(work) / "greeter.pxa"
        pack_tree(GREETER, archive)
        kernel = Kernel(home)
        CartridgeRegistry(kernel).register(archive)
        tree = Path(work) / "direct"
        open_archive(archive).extract(tree)
        direct = [sys.executable if w == "python" else w for w in DEFAULT_COMMAND]

        def pytest_directly():
            subprocess.run(direct, cwd=tree, env=env, stdout=subprocess.DEVNULL, check=True)
            shutil.rmtree(tree / "__pycache__", ignore_errors=True)

        def cartridge_test():
            done = subprocess.run([sys.executable, "-m", "pxos_kernel", "cartridge", "test", "greeter", "--json"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            assert done.returncode == 0, done.stderr

        def sandboxed_tests_only():
            run = run_tests(kernel, archive, label="bench")
            assert run.ok and run.protections["filesystem"] == "bubblewrap", run.stdout[-500:]

        samples = interleaved({"pytest directly": pytest_directly, "cartridge test": cartridge_test,
                               "run_tests in-process": sandboxed_tests_only}, ROUNDS)
        base = median(samples["pytest directly"])
        ours = median(samples["cartridge test"])
        alone = median(samples["run_tests in-process"])
        report(f"median of {ROUNDS} interleaved runs (sandbox: {chosen})", [
            ("pytest directly", f"{base * 1000:.0f} ms"),
            ("cartridge test greeter", f"{ours * 1000:.0f} ms  ({ours / base:.2f}x; target <= {TARGET}x) "
                                       f"{verdict(ours / base <= TARGET)}"),
            ("  of which the sandboxed tests", f"{alone * 1000:.0f} ms  ({alone / base:.2f}x)"),
        ])
        kernel.close()


if __name__ == "__main__":
    main()
