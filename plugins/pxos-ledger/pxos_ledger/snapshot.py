"""Snapshots (seed 000): a directory or a state JSON captured into a ``.checkpoint/`` layout.

::

    DIR/.checkpoint/metadata/state_inventory.json    what was captured (and, for incremental, what changed)
    DIR/.checkpoint/token_pixels/state_tokens.jsonl  the state as a token stream (4,096-token cap)
    DIR/.checkpoint/token_pixels/pixel_grid.json     the state as a pixel grid
    DIR/.checkpoint/checkpoint_manifest.json         every component with its sha256
    DIR/checkpoint_<time>.tar.gz                     all of the above, kept as history

Types: ``full`` inventories every entry; ``incremental`` only the entries added,
changed or removed since the previous snapshot of the same source (found through
the ledger, its archive checked against the recorded sha256); ``token_pixel``
writes only the token pixels. Every entry's sha256 is always kept, so the next
incremental snapshot can compare. Each snapshot is one SNAPSHOT ledger record.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from pxos_kernel import IntegrityError, LedgerError, NotFoundError, atomic_write, atomic_writer, canonical_json
from pxos_ledger.tokens import pixel_grid, token_stream

TYPES = ("full", "incremental", "token_pixel")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_source(source: Path) -> tuple[str, dict, Any]:
    """``(kind, {entry: details-with-sha256}, state-for-tokens)`` of a directory, file or state JSON."""
    if not source.exists():
        raise NotFoundError(f"snapshot source {source} does not exist")
    if source.is_file() and source.suffix == ".json":
        try:
            state = json.loads(source.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise LedgerError(f"state file {source} is not JSON ({exc})") from None
        if not isinstance(state, dict):
            raise LedgerError(f"state file {source} must hold a JSON object, not {type(state).__name__}")
        entries = {k: {"sha256": _sha(canonical_json(v).encode("utf-8")), "value": v} for k, v in state.items()}
        return "state", entries, state
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file()
                                                       and ".checkpoint" not in p.relative_to(source).parts)
    entries = {}
    for path in files:
        data = path.read_bytes()
        name = path.name if path == source else path.relative_to(source).as_posix()
        entries[name] = {"sha256": _sha(data), "size": len(data)}
    return "directory", entries, {name: e["sha256"] for name, e in entries.items()}


def previous_snapshot(ledger, source: str) -> Optional[dict]:
    """The last SNAPSHOT record of ``source`` that kept an inventory (full or incremental)."""
    found = None
    for record in ledger.records():
        payload = record.get("payload") or {}
        if record.get("type") == "SNAPSHOT" and payload.get("source") == source \
                and payload.get("snapshot_type") in ("full", "incremental"):
            found = record
    return found


def _inventory_of(record: dict) -> dict:
    """The ``{entry: sha256}`` map kept by an earlier snapshot, read from its checked archive."""
    payload = record["payload"]
    try:
        data = Path(payload["archive"]).read_bytes()
    except OSError as exc:
        raise LedgerError(f"previous snapshot {record['id']}: cannot read {payload['archive']} ({exc.strerror})") from None
    if _sha(data) != payload["archive_sha256"]:
        raise IntegrityError(f"previous snapshot {record['id']}: {payload['archive']} does not match the sha256 "
                             "in the ledger (it was changed)")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(".checkpoint/metadata/state_inventory.json")
        if member is None:
            raise IntegrityError("the snapshot's state_inventory.json is not a regular file")
        inventory = json.load(member)
    return inventory["hashes"]


def take_snapshot(kernel, source: Path, snapshot_type: str, out_dir: Path, *,
                  corridor: str = "DISTRICT_0.CHAMBER_LEDGER.NODE_SNAPSHOT", agent: Optional[str] = None) -> dict:
    """Write the layout and archive, append the SNAPSHOT record, return the record."""
    if snapshot_type not in TYPES:
        raise LedgerError(f"snapshot type {snapshot_type!r} is not one of {', '.join(TYPES)}")
    from pxos_kernel import check_corridor

    check_corridor(corridor)
    source = source.resolve()
    kind, entries, state = load_source(source)
    hashes = {name: e["sha256"] for name, e in entries.items()}
    base, removed = None, []
    if snapshot_type == "incremental":
        previous = previous_snapshot(kernel.ledger, str(source))
        if previous is not None:
            base = previous["id"]
            before = _inventory_of(previous)
            removed = sorted(set(before) - set(hashes))
            entries = {n: e for n, e in entries.items() if before.get(n) != e["sha256"]}
            state = {n: (e["value"] if kind == "state" else e["sha256"]) for n, e in entries.items()}
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    tokens = token_stream(state)
    truncated = bool(tokens) and tokens[-1]["type"] == "marker"
    inventory = {"source": str(source), "kind": kind, "snapshot_type": snapshot_type, "created": created,
                 "base": base, "count": len(hashes), "hashes": hashes,
                 "entries": {} if snapshot_type == "token_pixel" else entries, "removed": removed}
    files = {
        "metadata/state_inventory.json": json.dumps(inventory, indent=2, sort_keys=True).encode(),
        "token_pixels/state_tokens.jsonl": "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tokens).encode(),
        "token_pixels/pixel_grid.json": json.dumps(pixel_grid(state), indent=2).encode(),
    }
    manifest = {"format": "pxos-checkpoint", "version": 1, "snapshot_type": snapshot_type, "source": str(source),
                "created": created, "base": base, "token_count": len(tokens) - truncated, "truncated": truncated,
                "components": {name: _sha(data) for name, data in files.items()}}
    files["checkpoint_manifest.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    root = out_dir / ".checkpoint"
    for name, data in files.items():
        atomic_write(root / name, data)
    archive = out_dir / f"checkpoint_{created.replace('-', '').replace(':', '').replace('.', '')}.tar.gz"
    with atomic_writer(archive) as out:
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(f".checkpoint/{name}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    payload = {"source": str(source), "kind": kind, "snapshot_type": snapshot_type, "base": base,
               "entries": len(entries), "removed": len(removed), "tokens": manifest["token_count"],
               "truncated": truncated, "manifest_sha256": _sha(files["checkpoint_manifest.json"]),
               "archive": str(archive), "archive_sha256": _sha(archive.read_bytes()),
               "checkpoint_dir": str(root)}
    return kernel.checkpoint("SNAPSHOT", "snapshot", payload, corridor=corridor, agent=agent)


