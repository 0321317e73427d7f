"""Every bad input named by the issue is one clear error line, and nothing is appended."""

from __future__ import annotations

import json
import sqlite3

import pytest

from pxos_kernel import Kernel, LedgerError


def _count(pxos_home) -> int:
    db = sqlite3.connect(pxos_home / "ledger" / "ledger.sqlite")
    try:
        return db.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def two(sqlite_cli, pxos_home):
    with Kernel(pxos_home) as kernel:
        kernel.checkpoint("STATE", "a", {"x": 1})
        kernel.checkpoint("STATE", "b", {"x": 2})
    return sqlite_cli


def _fails(cli, *argv, says: str):
    code, out, err = cli(*argv)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], err
    return lines[0]


def test_a_ledger_file_that_is_not_jsonl(pxos_cli, pxos_home):
    ledger = pxos_home / "ledger" / "ledger.jsonl"
    ledger.parent.mkdir(parents=True)
    ledger.write_bytes(b"this is not json\n")
    _fails(pxos_cli, "ledger", "query", says="not JSON")
    _fails(pxos_cli, "run", "hello", says="not JSON")
    assert ledger.read_bytes() == b"this is not json\n"


def test_a_ledger_database_that_is_not_sqlite(sqlite_cli, pxos_home):
    db = pxos_home / "ledger" / "ledger.sqlite"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database at all, " * 100)
    _fails(sqlite_cli, "run", "hello", says="cannot open ledger database")
    assert db.read_bytes() == b"not a database at all, " * 100


def test_a_record_with_an_unknown_version(two, pxos_home):
    db = sqlite3.connect(pxos_home / "ledger" / "ledger.sqlite")
    body = json.loads(db.execute("SELECT body FROM records WHERE seq = 2").fetchone()[0])
    db.execute("UPDATE records SET body = ? WHERE seq = 2", (json.dumps(dict(body, v=7)),))
    db.commit()
    db.close()
    code, out, _ = two("ledger", "verify", "--json")
    assert code == 1 and "unknown record version 7" in json.loads(out)["problem"]["what"]
    _fails(two, "ledger", "replay", "--fork", "b", says="unknown record version 7")
    assert not (pxos_home / "ledger" / "forks" / "b").exists()
    assert _count(pxos_home) == 2


@pytest.mark.parametrize("argv", [
    ("ledger", "snapshot", "{src}", "-o", "{out}", "--corridor", "DISTRICT_X.CHAMBER_A.NODE_B"),
    ("ledger", "query", "--corridor", "DISTRICT_1.NODE_B"),
])
def test_a_corridor_that_does_not_match_the_grammar(two, pxos_home, tmp_path, argv):
    (tmp_path / "s.json").write_text("{}")
    argv = [a.format(src=tmp_path / "s.json", out=tmp_path / "o") for a in argv]
    _fails(two, *argv, says="DISTRICT_")
    assert _count(pxos_home) == 2 and not (tmp_path / "o").exists()
    with Kernel(pxos_home) as kernel, pytest.raises(LedgerError, match="does not match"):
        kernel.checkpoint("STATE", "x", {}, corridor="district_1.chamber.node")
    assert _count(pxos_home) == 2


def test_a_payload_that_is_not_json_serialisable(two, pxos_home):
    from pxos_kernel import CheckpointQueue

    with Kernel(pxos_home) as kernel:
        with pytest.raises(LedgerError, match="not JSON-serialisable"):
            kernel.checkpoint("STATE", "x", {"when": object()})
        with pytest.raises(LedgerError, match="not JSON-serialisable"):
            kernel.checkpoint("STATE", "x", {"nan": float("nan")})
        with CheckpointQueue(kernel.ledger) as queue:
            with pytest.raises(LedgerError, match="not JSON-serialisable"):
                queue.submit_mixture("m", [{"type": "A", "op": "ok", "payload": {}},
                                           {"type": "B", "op": "bad", "payload": {1, 2}}])
    assert _count(pxos_home) == 2


@pytest.mark.parametrize("argv", [
    ("ledger", "show", "ATOM-STATE-20260101-000099"),
    ("ledger", "query", "--id", "ATOM-STATE-20260101-000001"),
    ("ledger", "tokens", "ATOM-STATE-20260101-000099"),
    ("ledger", "grid", "ATOM-STATE-20260101-000099", "-o", "{out}"),
    ("ledger", "prove", "ATOM-STATE-20260101-000099"),
    ("ledger", "replay", "--to", "ATOM-STATE-20260101-000099", "--fork", "nope"),
    ("ledger", "tokens", "not-an-atom"),
])
def test_an_atom_id_that_does_not_exist(two, pxos_home, tmp_path, argv):
    argv = [a.format(out=tmp_path / "g") for a in argv]
    _fails(two, *argv, says="ATOM")
    assert _count(pxos_home) == 2
    assert not (tmp_path / "g").exists() and not (pxos_home / "ledger" / "forks").exists()


@pytest.mark.parametrize("argv, says", [
    (("ledger", "snapshot", "{missing}", "-o", "{out}"), "does not exist"),
    (("ledger", "snapshot", "{bad_json}", "-o", "{out}"), "is not JSON"),
    (("ledger", "snapshot", "{bad_json}", "--type", "partial", "-o", "{out}"), "not one of"),
    (("ledger", "query", "--since", "yesterday"), "ISO 8601"),
    (("ledger", "query", "--where", "nofield"), "FIELD=VALUE"),
    (("ledger", "check-proof", "{bad_json}"), "not JSON"),
    (("ledger", "verify", "--head", "{bad_json}"), "not JSON"),
    (("ledger", "replay", "--fork", "Bad Name"), "branch name"),
    (("ledger", "replay", "--reducer", "nope"), "no ledger reducer"),
    (("ledger", "show", "--branch", "nope"), "no branch ledger"),
])
def test_other_bad_arguments(two, pxos_home, tmp_path, argv, says):
    (tmp_path / "bad.json").write_text("{not json")
    argv = [a.format(missing=tmp_path / "missing", out=tmp_path / "o", bad_json=tmp_path / "bad.json") for a in argv]
    _fails(two, *argv, says=says)
    assert _count(pxos_home) == 2 and not (tmp_path / "o").exists()
