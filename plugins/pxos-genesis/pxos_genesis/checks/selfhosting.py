"""Genesis §1.4 and §4.3 for a system cartridge, judged by booting it through the shim.

§1.4 (pixels ARE the program): a fresh interpreter boots the system from its
archive with the boot shim and reports where each loaded module and each
distribution came from; every one must be inside the archive.

§4.3 (experimental code is sandboxed): a system version that is not current
runs ``hello`` booted by the shim; the ledger it writes must record the run
as sandboxed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Mapping

from pxos_genesis.checks import bad, check, judge, ok, plural, unknown
from pxos_genesis.subject import Candidate


def is_system(candidate: Candidate) -> bool:
    return bool(candidate.archive.metadata.get("system"))


def boot(candidate: Candidate, *argv: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``pxos.py --world ARCHIVE --sha256 SHA ARGV`` in a fresh interpreter with a temporary PXOS_HOME."""
    from pxos_cartridge.world import shim_path

    home = tempfile.mkdtemp(prefix="pxos-genesis-boot-")
    command = [sys.executable, "-I", str(shim_path()), "--world", str(candidate.archive_path), "--sha256",
               candidate.archive.sha256, *argv]
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": home, "PXOS_HOME": home, "LANG": "C.UTF-8"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=home), home


@check("runs_from_its_pixels")
def runs_from_its_pixels(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    if not is_system(candidate):
        return unknown(f"{candidate.label} is an application cartridge: pxOS runs its code from the archive through "
                       "the cartridge importer when one of its programs runs; booting from pixels is judged for "
                       "system cartridges (world pack)")
    done, home = boot(candidate, "-m", "pxos_cartridge.probe")
    try:
        if done.returncode != 0:
            return bad("the shim did not boot the system", [(done.stderr.strip().splitlines()[-1:] or ["?"])[0]])
        found = json.loads(done.stdout)
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    inside = str(candidate.archive_path) + "/"
    # Native extensions cannot be loaded from memory: the shim extracts the archive's native bundles into
    # a cache named by their sha256 and checks every file against the archive before they load.
    native = os.path.join(found["system"]["home"], "cache", "native") + os.sep
    extracted = [n for n, where in found["modules"].items() if where.startswith(native)]
    outside = [(f"module {name} was loaded from {where}, outside the archive", name)
               for name, where in found["modules"].items() if not where.startswith((inside, native))]
    return judge(outside, f"booted by the shim on a bare interpreter, the system loaded "
                 f"{plural(len(found['modules']), 'module')} and {plural(len(found['plugins']), 'plugin')}, every one "
                 f"from inside {candidate.archive_path.name}"
                 + (f" ({len(extracted)} from its native bundles, extracted and sha256-checked)" if extracted else "")
                 + f"; importlib.metadata saw {plural(len(found['distributions']), 'distribution')}, all the archive's")


def non_current_runs_sandboxed(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    if candidate.field("status") == "current":
        return ok(f"{candidate.label} is the current system: its programs may run unsandboxed")
    done, home = boot(candidate, "run", "hello", "--", "genesis")
    try:
        posts = []
        ledger = os.path.join(home, "ledger", "ledger.jsonl")
        if os.path.exists(ledger):
            with open(ledger, encoding="utf-8") as stream:
                posts = [r for r in map(json.loads, stream) if r.get("corridor", "").endswith("NODE_POST")]
    finally:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    if done.returncode != 0 or not posts:
        return bad("booting it to run hello failed", [((done.stderr.strip().splitlines() or ["no output"])[-1],
                                                       candidate.label)])
    record = posts[-1]["payload"]
    if not record.get("sandbox"):
        return bad(f"{candidate.label} is not current", [("its hello ran outside the sandbox", candidate.label)])
    return ok(f"{candidate.label} is {candidate.field('status') or 'not registered'}: booted by the shim, its "
              f"'hello' ran sandboxed (ledger: program {record.get('program')}, status {record.get('status')}, "
              f"sandbox {record.get('sandbox')}, system {record.get('system')})")
