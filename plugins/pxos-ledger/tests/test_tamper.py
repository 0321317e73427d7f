"""Every kind of tampering is found by verify, on both sinks: edit, deletion, insertion,
reordering, truncation in the middle, and truncation at the tail (against a sealed head)."""

from __future__ import annotations

import pytest

from pxos_kernel import Ledger, canonical_json, record_hash


class SqliteRows:
    """Raw row access to the sqlite sink, the way an attacker with the file would."""

    def __init__(self, sink):
        self.db = sink._db

    def set_body(self, seq, body):
        self.db.execute("UPDATE records SET body = ? WHERE seq = ?", (body, seq))

    def delete(self, seq):
        self.db.execute("DELETE FROM records WHERE seq = ?", (seq,))

    def insert(self, seq, record):
        """Make room at ``seq`` (moving later rows up by one) and put ``record`` there."""
        self.db.execute("UPDATE records SET seq = seq + 1000 WHERE seq >= ?", (seq,))
        self.db.execute("UPDATE records SET seq = seq - 999 WHERE seq >= ?", (seq + 1000,))
        self.db.execute("INSERT INTO records (seq, id, hash, body) VALUES (?, ?, ?, ?)",
                        (seq, record["id"] + "-forged", record["hash"], canonical_json(record)))


class PostgresRows:
    def __init__(self, sink):
        self.sink = sink

    def _run(self, sql, params):
        with self.sink._db.cursor() as cur:
            cur.execute(sql.replace("records", self.sink.table), params)

    def set_body(self, seq, body):
        self._run("UPDATE records SET body = %s WHERE seq = %s", (body, seq))

    def delete(self, seq):
        self._run("DELETE FROM records WHERE seq = %s", (seq,))

    def insert(self, seq, record):
        self._run("UPDATE records SET seq = seq + 1000 WHERE seq >= %s", (seq,))
        self._run("UPDATE records SET seq = seq - 999 WHERE seq >= %s", (seq + 1000,))
        self._run("INSERT INTO records (seq, id, hash, body) VALUES (%s, %s, %s, %s)",
                  (seq, record["id"] + "-forged", record["hash"], canonical_json(record)))


@pytest.fixture(params=["sqlite", "postgres"])
def tampered(request):
    """(ledger, raw row access) with six records."""
    if request.param == "sqlite":
        sink = request.getfixturevalue("make_sqlite_sink")()
        rows = SqliteRows(sink)
    else:
        sink = request.getfixturevalue("make_pg_sink")()
        rows = PostgresRows(sink)
    ledger = Ledger(sink)
    records = [ledger.append("TEST", "step", {"i": i}) for i in range(6)]
    assert ledger.verify().ok
    return ledger, rows, records


def _problem(ledger):
    report = ledger.verify()
    assert not report.ok
    return report.problem


def test_edit_is_found(tampered):
    ledger, rows, records = tampered
    edited = dict(records[2], payload={"i": 999})
    rows.set_body(3, canonical_json(edited))
    problem = _problem(ledger)
    assert problem.seq == 3 and "hash mismatch" in problem.what


def test_edit_with_recomputed_hash_breaks_the_next_link(tampered):
    ledger, rows, records = tampered
    edited = dict(records[2], payload={"i": 999})
    edited["hash"] = record_hash(edited)
    rows.set_body(3, canonical_json(edited))
    problem = _problem(ledger)
    assert problem.seq == 4 and "link broken" in problem.what


def test_deletion_is_found(tampered):
    ledger, rows, _ = tampered
    rows.delete(3)
    problem = _problem(ledger)
    assert problem.seq == 4 and "sequence number" in problem.what


def test_insertion_is_found(tampered):
    ledger, rows, records = tampered
    forged = dict(records[3], payload={"forged": True})  # seq 4, linked to record 3, correctly hashed
    forged["hash"] = record_hash(forged)
    rows.insert(4, forged)
    problem = _problem(ledger)
    assert problem.index == 5 and "sequence number 4 where 5 was expected" in problem.what


def test_reordering_is_found(tampered):
    ledger, rows, records = tampered
    rows.set_body(2, canonical_json(records[2]))
    rows.set_body(3, canonical_json(records[1]))
    problem = _problem(ledger)
    assert problem.seq == 3 and problem.index == 2


def test_truncation_in_the_middle_is_found(tampered):
    ledger, rows, _ = tampered
    for seq in (2, 3, 4):
        rows.delete(seq)
    problem = _problem(ledger)
    assert problem.seq == 5 and "sequence number" in problem.what


def test_truncation_at_the_tail_is_found_against_a_sealed_head(tampered):
    ledger, rows, _ = tampered
    head = ledger.seal()
    assert ledger.check_head(head) is None
    rows.delete(6)
    rows.delete(5)
    assert ledger.verify().ok  # the chain alone cannot see a cut tail...
    assert "truncated at the tail" in ledger.check_head(head)  # ...the sealed head can


def test_a_replaced_tail_does_not_match_the_sealed_head(tampered):
    ledger, rows, records = tampered
    head = ledger.seal()
    rows.delete(6)
    ledger._last = None
    ledger.append("TEST", "step", {"i": "other"})
    assert ledger.verify().ok
    assert "sealed head says" in ledger.check_head(head)


def test_an_edited_seal_is_refused(tampered):
    ledger, _, _ = tampered
    head = dict(ledger.seal(), tree_size=3)
    assert "signature does not match" in ledger.check_head(head)


def test_hmac_key_stops_reforging(make_sqlite_sink):
    key = b"k" * 32
    ledger = Ledger(make_sqlite_sink(), key=key)
    records = [ledger.append("TEST", "step", {"i": i}) for i in range(3)]
    # An attacker without the key edits record 2 and re-chains the whole ledger with plain sha256.
    db, prev = ledger.sink._db, records[0]["prev"]
    for record in records:
        forged = dict(record, prev=prev, payload={"i": "forged"} if record["seq"] == 2 else record["payload"])
        forged["hash"] = prev = record_hash(forged)
        db.execute("UPDATE records SET body = ? WHERE seq = ?", (canonical_json(forged), record["seq"]))
    assert Ledger(make_sqlite_sink()).verify().ok  # without the key the forgery is self-consistent
    problem = Ledger(make_sqlite_sink(), key=key).verify().problem
    assert problem.seq == 1 and "HMAC key" in problem.what


def test_verify_checks_the_stored_bytes_not_only_the_record_they_parse_to(make_sqlite_sink):
    """The same record in another spelling is refused: only its canonical text is a valid stored form."""
    import json

    ledger = Ledger(make_sqlite_sink())
    records = [ledger.append("TEST", "step", {"hash": "x", "nested": {"hash": "y"}}) for _ in range(3)]
    db = ledger.sink._db
    db.execute("UPDATE records SET body = ? WHERE seq = 2", (json.dumps(records[1], indent=1),))
    problem = ledger.verify().problem
    assert problem.seq == 2 and "not the canonical RFC 8785 serialisation" in problem.what
    db.execute("UPDATE records SET body = ? WHERE seq = 2",
               (json.dumps(dict(records[1], payload={"hash": "z", "nested": {"hash": "y"}}), indent=1),))
    problem = ledger.verify().problem
    assert problem.seq == 2 and "hash mismatch" in problem.what


def _forge_duplicate_payload(text: str) -> str:
    """The stored text with a forged ``"payload"`` member inserted before the real one.

    Python's json keeps the last of two equal keys, so the record parses to the
    original and its HMAC still matches; a reader that keeps the first key sees
    the forgery. Only a check of the stored bytes catches it.
    """
    cut = text.index(',"payload":')
    return text[:cut] + ',"payload":{"program":"forged","status":"ok"}' + text[cut:]


@pytest.fixture(params=["jsonl", "sqlite", "postgres"])
def keyed_cli(request, pxos_home, pxos_cli, tmp_path):
    """(run the CLI, replace the stored text of row seq) on a PXOS_HOME whose ledger has an HMAC key."""
    key = tmp_path / "ledger.key"
    key.write_bytes(b"k" * 32)
    settings = {"hmac_key_file": str(key)}
    if request.param == "postgres":
        settings.update(dsn=request.getfixturevalue("postgres_dsn"), table=request.getfixturevalue("pg_table"))
    import yaml

    (pxos_home / "config.yaml").write_text(yaml.safe_dump({"defaults": {"sink": request.param}, "ledger": settings}))

    def replace(seq: int, forge) -> None:
        from pxos_kernel import Kernel

        with Kernel(pxos_home) as kernel:
            sink = kernel.ledger.sink
            if request.param == "jsonl":
                lines = sink.path.read_text(encoding="utf-8").splitlines(keepends=True)
                lines[seq - 1] = forge(lines[seq - 1][:-1]) + "\n"
                sink.path.write_text("".join(lines), encoding="utf-8")
            else:
                rows = SqliteRows(sink) if request.param == "sqlite" else PostgresRows(sink)
                body = next(text for s, text in sink.read_rows(seq) if s == seq)
                rows.set_body(seq, forge(body))

    return pxos_cli, replace


def test_a_duplicate_payload_key_fails_verify_head_with_an_hmac_key(keyed_cli, tmp_path):
    cli, replace = keyed_cli
    for _ in range(3):
        assert cli("run", "hello")[0] == 0
    head = tmp_path / "head.json"
    assert cli("ledger", "seal", "-o", str(head))[0] == 0
    assert cli("ledger", "verify", "--head", str(head))[0] == 0
    replace(2, _forge_duplicate_payload)
    code, out, err = cli("ledger", "verify", "--head", str(head))
    assert code != 0
    assert "record #2" in out + err and "hold the key 'payload' twice" in out + err
