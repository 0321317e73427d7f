"""Measurements taken inside booted systems: a build's benchmark figures beside its parent's, and commands.

``probes.py cli SHIM A.pxa SHA B.pxa SHA`` prints the command surface
(:func:`surface_of`; it cannot be read from the sources, because each command declares its arguments by
running code) of both systems, each
booted in a process of its own, as one ``PXOS-CLI {json}`` line.

``probes.py run SHIM PARENT.pxa SHA CANDIDATE.pxa SHA [ROUNDS]`` prints the
benchmark figures as one ``PXOS-BENCH {json}`` line. Three figures, each the median of ``rounds`` measurements taken in turns
(parent, candidate, candidate, parent, ...) so that a machine growing busier
weighs on both alike:

``plugins cold start``
    wall time of ``python3 -I pxos.py --world ARCHIVE plugins``, a whole process;
``storage put+get``
    one ``put`` and one ``get`` of 64 KiB through the default storage backend;
``ledger append``
    one record appended to the ledger (after a first one opened it).

The second and third are timed inside a process booted from the archive by
the shim, by :func:`probe`. This file is standard-library only at module
level, so the build runs it as a script, in the sandbox (``main``), and the
probe part inside each system (``probe``): the timing code is the pipeline's
own, the code being timed is the archive's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

FIGURES = ("plugins cold start", "storage put+get", "ledger append")
_BLOB = 64 * 1024


def _boot_shim(shim: str, archive: str, sha256: str, home: str) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("pxos_boot_shim", shim)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.boot(archive, sha256, home, {"version": "bench"})


def surface_of(kernel: Any) -> dict[str, dict]:
    """``{command: {"options": [...], "arguments": [...]}}`` for every registered subcommand of ``kernel``.

    A command whose ``configure_parser`` raises gets ``{"error": "..."}``
    instead, so a broken command is seen rather than silently dropped.
    """
    import argparse

    registry = kernel.registry("subcommand")
    found: dict[str, dict] = {}
    for name in sorted(registry.names()):
        parser = argparse.ArgumentParser(prog=name, add_help=False)
        command = registry.get(name)
        try:
            if command.configure_parser is not None:
                command.configure_parser(parser)
        except Exception as exc:  # the archive's code declaring arguments: any failure is a finding
            found[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        actions = parser._actions  # argparse keeps declared actions here; there is no public accessor
        found[name] = {"options": sorted(o for a in actions for o in a.option_strings),
                       "arguments": sorted(a.dest for a in actions if not a.option_strings
                                           and not isinstance(a, argparse._SubParsersAction))}
    return found


def surface(shim: str, archive: str, sha256: str, home: str) -> dict:
    """Inside a process booted from ``archive``: its command surface (:func:`surface_of`)."""
    _boot_shim(shim, archive, sha256, home)
    from pxos_kernel import Kernel

    kernel = Kernel(home)
    try:
        return surface_of(kernel)
    finally:
        kernel.close()


def surfaces(script: str, shim: str, parent: tuple[str, str], candidate: tuple[str, str], scratch: str) -> dict:
    """``{"parent": surface, "candidate": surface}``, each from a process booted from its archive."""
    answers = {}
    for label, (archive, sha256) in (("parent", parent), ("candidate", candidate)):
        home = os.path.join(scratch, f"home-cli-{label}")
        os.makedirs(home, exist_ok=True)
        done = subprocess.run([sys.executable, "-I", script, "surface", shim, archive, sha256, home],
                              env={**os.environ, "PXOS_HOME": home}, capture_output=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"the command probe in {os.path.basename(archive)} exited {done.returncode}: "
                               f"{done.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
        answers[label] = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    return answers


def probe(shim: str, archive: str, sha256: str, home: str) -> dict:
    """Inside a process booted from ``archive``: seconds for one storage put+get and one ledger append."""
    _boot_shim(shim, archive, sha256, home)
    from pxos_kernel import Kernel

    kernel = Kernel(home)
    try:
        try:
            scheme = kernel.default_name("storage")
        except TypeError:  # a parent system packed before default_name(family) took one argument
            scheme = kernel.default_name("storage", "storage")  # type: ignore[call-arg]
        storage = kernel.storage(scheme)
        data = os.urandom(_BLOB)
        started = time.perf_counter()
        storage.put("bench/blob", data)
        back = storage.get("bench/blob")
        put_get = time.perf_counter() - started
        if back != data:
            raise SystemExit(f"storage {scheme} gave back other bytes than were put")
        kernel.checkpoint("BENCH", "open", {})
        started = time.perf_counter()
        kernel.checkpoint("BENCH", "append", {"n": 1})
        append = time.perf_counter() - started
    finally:
        kernel.close()
    return {"storage put+get": put_get, "ledger append": append, "storage": scheme}


def _measure(script: str, shim: str, archive: str, sha256: str, home: str) -> dict:
    env = {**os.environ, "PXOS_HOME": home}
    base = [sys.executable, "-I"]
    started = time.perf_counter()
    done = subprocess.run([*base, shim, "--world", archive, "--sha256", sha256, "plugins"], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    cold = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"plugins from {os.path.basename(archive)} exited {done.returncode}: "
                           f"{done.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
    done = subprocess.run([*base, script, "probe", shim, archive, sha256, home], env=env,
                          capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"the probe in {os.path.basename(archive)} exited {done.returncode}: "
                           f"{done.stderr.decode('utf-8', 'replace').strip().splitlines()[-1:]}")
    figures = json.loads(done.stdout.decode("utf-8").strip().splitlines()[-1])
    return {"plugins cold start": cold, **{k: figures[k] for k in FIGURES[1:]}}


def compare(script: str, shim: str, parent: tuple[str, str], candidate: tuple[str, str], rounds: int, scratch: str) -> dict:
    """``{figure: {"parent ms", "build ms", "ratio"}}``, medians of ``rounds`` turns after one warm-up each."""
    samples: dict[str, dict[str, list[float]]] = {"parent": {f: [] for f in FIGURES},
                                                  "build": {f: [] for f in FIGURES}}
    systems = {"parent": parent, "build": candidate}
    homes = {label: os.path.join(scratch, f"home-{label}") for label in systems}
    for label, home in homes.items():
        os.makedirs(home, exist_ok=True)
        _measure(script, shim, *systems[label], home)  # warm-up: the bytecode cache, the storage and ledger files
    for turn in range(rounds):
        order = ("parent", "build") if turn % 2 == 0 else ("build", "parent")
        for label in order:
            for name, seconds in _measure(script, shim, *systems[label], homes[label]).items():
                samples[label][name].append(seconds)
    table = {}
    for name in FIGURES:
        before = statistics.median(samples["parent"][name])
        after = statistics.median(samples["build"][name])
        table[name] = {"parent ms": round(before * 1000, 2), "build ms": round(after * 1000, 2),
                       "ratio": round(after / before, 3) if before > 0 else None}
    return table


def main(script: str, shim: str, parent: str, parent_sha: str, candidate: str, candidate_sha: str,
         rounds: str = "5") -> int:
    """Print the comparison as one JSON line (run in the sandbox by the build, as ``bench.py run ...``)."""
    scratch = os.path.abspath("bench")
    os.makedirs(scratch, exist_ok=True)
    table = compare(script, shim, (parent, parent_sha), (candidate, candidate_sha), int(rounds), scratch)
    sys.stdout.write("PXOS-BENCH " + json.dumps({"figures": table, "rounds": int(rounds)}, sort_keys=True) + "\n")
    return 0


def parse(output: str, marker: str = "PXOS-BENCH ") -> dict:
    """What a run printed after ``marker`` (the figures, or the command surfaces), or {} when nothing."""
    for line in reversed(output.splitlines()):
        if line.startswith(marker):
            try:
                return json.loads(line[len(marker):])
            except ValueError:
                return {}
    return {}


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        sys.stdout.write(json.dumps(probe(*sys.argv[2:6])) + "\n")
        sys.exit(0)
    if sys.argv[1:2] == ["surface"]:
        sys.stdout.write(json.dumps(surface(*sys.argv[2:6]), sort_keys=True) + "\n")
        sys.exit(0)
    if sys.argv[1:2] == ["cli"]:
        found = surfaces(os.path.abspath(sys.argv[0]), sys.argv[2], (sys.argv[3], sys.argv[4]),
                         (sys.argv[5], sys.argv[6]), os.path.abspath("probes"))
        sys.stdout.write("PXOS-CLI " + json.dumps(found, sort_keys=True) + "\n")
        sys.exit(0)
    if sys.argv[1:2] == ["run"]:
        sys.exit(main(os.path.abspath(sys.argv[0]), *sys.argv[2:]))
    sys.exit("usage: probes.py run SHIM PARENT.pxa SHA256 CANDIDATE.pxa SHA256 [ROUNDS] | "
             "cli SHIM A.pxa SHA256 B.pxa SHA256 | probe|surface SHIM ARCHIVE SHA256 HOME")
