"""Genesis §2.4: what pxOS wrote with format version 1 stays readable.

Fixture files written by format version 1 (a pixel container, a pixel archive,
a ledger) ship in ``pxos_genesis/fixtures`` and are never rewritten. This
check reads each with the running system's own readers (the kernel's
container reader, pxos-cartridge's archive reader, the boot shim's strict
reader, the ledger's verifier) and compares what comes back with
``expected.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping, Optional

from pxos_genesis.checks import check, judge, plural


@check("formats_stay_readable", cartridge=False)
def formats_stay_readable(candidate: Optional[Any], context: Mapping[str, Any]) -> Any:
    fixtures = files("pxos_genesis") / "fixtures"
    expected = json.loads((fixtures / "expected.json").read_text(encoding="utf-8"))
    problems: list = []
    read = []
    with tempfile.TemporaryDirectory(prefix="pxos-genesis-fixtures-") as tmp:
        for name, want in sorted(expected.items()):
            data = (fixtures / name).read_bytes()
            if hashlib.sha256(data).hexdigest() != want["file_sha256"]:
                problems.append(("the fixture was changed; fixtures are written once and never edited", name))
                continue
            path = Path(tmp, name)
            path.write_bytes(data)
            try:
                problem = _READERS[name.split("-v")[0]](path, data, want)
            except Exception as exc:  # a reader that raises is exactly what this check is for
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                problems.append((f"format version {want['version']} is no longer readable: {problem}", name))
            else:
                read.append(name)
    if candidate is not None and candidate.archive.metadata.get("version") != 1:
        problems.append((f"written as container version {candidate.archive.metadata.get('version')}",
                         candidate.label))
    return judge(problems, f"{plural(len(read), 'version 1 fixture')} ({', '.join(read)}) read back exactly by this "
                 "system's readers: container (kernel), archive (pxos-cartridge and the boot shim), ledger "
                 "(hash chain verified)")


def _container(path: Path, data: bytes, want: Mapping[str, Any]) -> str:
    from pxos_kernel.container import read_container

    payload, meta = read_container(io.BytesIO(data))
    if (meta["kind"], meta["version"]) != (want["kind"], want["version"]):
        return f"read as kind {meta['kind']!r} version {meta['version']!r}"
    if hashlib.sha256(payload).hexdigest() != want["payload_sha256"] or len(payload) != want["length"]:
        return "its payload reads back different"
    return ""


def _archive(path: Path, data: bytes, want: Mapping[str, Any]) -> str:
    from pxos_cartridge import boot
    from pxos_cartridge.archive import open_archive

    archive = open_archive(path)
    meta, idat = boot.read_png(data, str(path))
    strict = boot.Archive(path, meta, boot.inflate_payload(meta, idat, str(path)))
    for reader, opened in (("pxos-cartridge", archive), ("the boot shim", strict)):
        got = {m.path: {"sha256": hashlib.sha256(opened.read(m.path)).hexdigest(), "mode": m.mode}
               for m in opened.members.values()}
        if got != want["members"]:
            return f"{reader} reads different members"
    return ""


def _ledger(path: Path, data: bytes, want: Mapping[str, Any]) -> str:
    from pxos_kernel import JsonlSink, Ledger

    ledger = Ledger(JsonlSink(path))
    try:
        report = ledger.verify()
        records = list(ledger.records())
    finally:
        ledger.close()
    if not report.ok:
        return f"its hash chain no longer verifies: {report.problem}"
    if len(records) != want["records"] or records[-1]["hash"] != want["head_hash"]:
        return f"reads {len(records)} records ending in {records[-1]['hash'][:16] if records else None}"
    return ""


_READERS = {"container": _container, "archive": _archive, "ledger": _ledger}
