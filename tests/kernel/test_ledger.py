import functools
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pxos_kernel.canonical import canonical_json
from pxos_kernel.errors import LedgerCorruptError, LedgerError, NotFoundError
from pxos_kernel.jsonl_sink import JsonlSink
from pxos_kernel.ledger import ATOM_ID, GENESIS_PREV, Ledger, record_hash
from pxos_kernel.testing import SinkConformance


class TestJsonlSinkConformance(SinkConformance):
    @pytest.fixture
    def make_sink(self, tmp_path):
        return functools.partial(JsonlSink, tmp_path / "ledger.jsonl")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "ledger.jsonl"


def fill(path, n=5, key=None):
    ledger = Ledger(JsonlSink(path), key=key)
    records = [ledger.append("TEST", "step", {"i": i}, corridor="DISTRICT_1.CHAMBER_TEST.NODE_PRE")
               for i in range(n)]
    ledger.close()
    return records


def lines(path):
    return path.read_bytes().splitlines(keepends=True)


def verify(path, key=None):
    return Ledger(JsonlSink(path), key=key).verify()


def test_record_format(path):
    first, second = fill(path, 2)
    assert first["prev"] == GENESIS_PREV and second["prev"] == first["hash"]
    assert ATOM_ID.match(first["id"]) and first["id"].endswith("-000001")
    assert first["hash"] == record_hash(first)
    assert set(first) == {"v", "seq", "id", "type", "ts", "agent", "corridor", "op", "payload", "prev", "hash"}
    assert json.loads(lines(path)[0]) == first


def test_atom_ids_never_overflow(path):
    ledger = Ledger(JsonlSink(path))
    record = None
    for _ in range(3):
        record = ledger.append("RUN", "x")
    assert record["id"].split("-")[-1] == "000003"


def test_intact_ledger_verifies(path):
    fill(path, 10)
    report = verify(path)
    assert report.ok and report.records == 10 and report.head_seq == 10


def edit(path):
    data = lines(path)
    record = json.loads(data[2])
    record["payload"]["i"] = 999
    data[2] = (json.dumps(record) + "\n").encode()
    path.write_bytes(b"".join(data))


def delete(path):
    data = lines(path)
    del data[2]
    path.write_bytes(b"".join(data))


def insert(path):
    data = lines(path)
    data.insert(2, data[1])
    path.write_bytes(b"".join(data))


def reorder(path):
    data = lines(path)
    data[1], data[2] = data[2], data[1]
    path.write_bytes(b"".join(data))


def rehash_one(path):
    """Edit a record, recompute its own hash and store it canonically: only the next link betrays it."""
    data = lines(path)
    record = json.loads(data[2])
    record["payload"]["i"] = 999
    record["hash"] = record_hash(record)
    data[2] = (canonical_json(record) + "\n").encode()
    path.write_bytes(b"".join(data))


@pytest.mark.parametrize("mutation, what, index", [
    (edit, "hash mismatch", 3), (delete, "sequence number", 3), (insert, "sequence number", 3),
    (reorder, "sequence number", 2), (rehash_one, "link broken", 4),
])
def test_every_mutation_is_detected_at_its_place(path, mutation, what, index):
    fill(path, 6)
    mutation(path)
    report = verify(path)
    assert not report.ok
    assert what in report.problem.what
    assert report.problem.index == index


@pytest.mark.parametrize("field, value, what", [
    ("corridor", "DISTRICT_X.CHAMBER_TEST.NODE_PRE", "corridor grammar"),
    ("id", "ATOM-TEST-20000101-000006", "ATOM id"),
    ("seq", True, "sequence number"),
])
def test_a_rehashed_last_record_with_a_bad_field_is_found_after_good_ones(path, field, value, what):
    """Verify's fast path remembers the corridors it matched and formats ids inline: a bad one after
    five good records, stored canonically with its hash recomputed, is still named."""
    fill(path, 6)
    data = lines(path)
    record = json.loads(data[5])
    record[field] = value
    record["hash"] = record_hash(record)
    data[5] = (canonical_json(record) + "\n").encode()
    path.write_bytes(b"".join(data))
    report = verify(path)
    assert not report.ok and report.records == 5 and report.problem.index == 6
    assert what in report.problem.what


def test_hmac_key_makes_rehashing_useless(path, tmp_path):
    key = b"k" * 32
    fill(path, 4, key=key)
    assert verify(path, key).ok
    assert not verify(path).ok  # without the key the hashes do not match
    rehash_one(path)
    data = lines(path)
    for i in range(3, len(data)):  # a forger re-chains everything after the edit, but has no key
        prev = json.loads(data[i - 1])["hash"]
        record = json.loads(data[i])
        record["prev"] = prev
        record["hash"] = record_hash(record)
        data[i] = (json.dumps(record) + "\n").encode()
    path.write_bytes(b"".join(data))
    report = verify(path, key)
    assert not report.ok and "hash mismatch" in report.problem.what


def test_torn_last_line_is_reported_and_blocks_appends(path):
    fill(path, 3)
    with open(path, "ab") as stream:
        stream.write(b'{"v":1,"seq":4,"id":"ATOM-RUN')
    before = path.read_bytes()
    report = verify(path)
    assert not report.ok and report.records == 3
    assert "line 4" in report.problem.what and "torn" in report.problem.what
    with pytest.raises(LedgerCorruptError, match="torn"):
        Ledger(JsonlSink(path)).append("TEST", "after-crash")
    assert path.read_bytes() == before  # the append did not make it worse


def test_repair_sets_the_torn_tail_aside(path):
    fill(path, 3)
    with open(path, "ab") as stream:
        stream.write(b'{"v":1,"seq":4')
    result = JsonlSink(path).repair()
    assert result["removed_bytes"] == len(b'{"v":1,"seq":4') and result["kept_records"] == 3
    assert open(result["saved_to"], "rb").read() == b'{"v":1,"seq":4'
    assert verify(path).ok
    assert Ledger(JsonlSink(path)).append("TEST", "resumed")["seq"] == 4


def test_repair_refuses_damage_in_the_middle(path):
    fill(path, 4)
    data = lines(path)
    data[1] = b"garbage\n"
    path.write_bytes(b"".join(data))
    before = path.read_bytes()
    with pytest.raises(LedgerCorruptError, match="not the last"):
        JsonlSink(path).repair()
    assert path.read_bytes() == before


def test_non_json_ledger_is_an_error(path):
    path.write_text("this is not a ledger\n")
    report = verify(path)
    assert not report.ok and "not JSON" in report.problem.what


@pytest.mark.parametrize("kwargs, message", [
    ({"corridor": "DISTRICT_X.CHAMBER_A.NODE_B"}, "corridor"),
    ({"payload": {"x": object()}}, "not JSON-serialisable"),
    ({"payload": {"x": float("nan")}}, "not JSON-serialisable"),
])
def test_bad_appends_are_refused_and_append_nothing(path, kwargs, message):
    ledger = Ledger(JsonlSink(path))
    with pytest.raises(LedgerError, match=message):
        ledger.append("TEST", "bad", **kwargs)
    assert path.read_bytes() == b""


def test_bad_record_type_is_refused(path):
    with pytest.raises(LedgerError, match="record type"):
        Ledger(JsonlSink(path)).append("lower", "x")


def test_unknown_version_is_reported(path):
    fill(path, 2)
    data = lines(path)
    record = json.loads(data[1])
    record["v"] = 2
    record["hash"] = record_hash(record)
    data[1] = (json.dumps(record) + "\n").encode()
    path.write_bytes(b"".join(data))
    assert "unknown record version" in verify(path).problem.what


def test_find_by_atom_id(path):
    records = fill(path, 3)
    ledger = Ledger(JsonlSink(path))
    assert ledger.find(records[1]["id"]) == records[1]
    with pytest.raises(NotFoundError):
        ledger.find("ATOM-TEST-20000101-000002")
    with pytest.raises(NotFoundError, match="not an ATOM id"):
        ledger.find("nonsense")


def test_verify_from_a_sequence_number(path):
    fill(path, 6)
    report = Ledger(JsonlSink(path)).verify(4)
    assert report.ok and report.records == 3


def test_bad_durability_is_a_config_error(path):
    from pxos_kernel.errors import ConfigError

    with pytest.raises(ConfigError, match="durability"):
        JsonlSink(path, durability="sometimes")


def test_newest_first_reads_across_block_boundaries_and_only_the_tail(path, monkeypatch):
    import pxos_kernel.jsonl_sink as jsonl_sink

    monkeypatch.setattr(jsonl_sink, "_TAIL_CHUNK", 97)  # lines cross block boundaries everywhere
    records = fill(path, 40)
    sink = JsonlSink(path)
    assert list(sink.read_newest_first()) == records[::-1]
    with path.open("r+b") as stream:  # damage the first record: the last five never read it
        stream.write(b"#")
    newest = sink.read_newest_first()
    assert [next(newest)["seq"] for _ in range(5)] == [40, 39, 38, 37, 36]


def test_newest_first_reports_a_torn_last_record(path):
    fill(path, 3)
    with path.open("ab") as stream:
        stream.write(b'{"v":1,"seq":4')
    with pytest.raises(LedgerCorruptError, match="torn last record"):
        next(JsonlSink(path).read_newest_first())


def forge_second_record(path, payload, canonical, forged):
    """Append two records, replace ``canonical`` by ``forged`` in the second one's stored text,
    recompute its sha256 over the forged bytes (as anyone can without a key) and verify."""
    import hashlib

    ledger = Ledger(JsonlSink(path))
    ledger.append("TEST", "one", {"i": 1})
    record = ledger.append("TEST", "two", payload)
    assert canonical in record.canonical
    text = record.canonical.replace(canonical, forged)
    member = f',"hash":"{record["hash"]}"'
    digest = hashlib.sha256(text.replace(member, "").encode()).hexdigest()
    data = lines(path)
    data[1] = (text.replace(record["hash"], digest) + "\n").encode()
    path.write_bytes(b"".join(data))
    return verify(path)


@pytest.mark.parametrize("payload, canonical, forged", [
    ({"x": 1e-7}, '"x":1e-7', '"x":1e-07'),                      # the C encoder would echo Python's spelling
    ({"x": 1e-7}, '"x":1e-7', '"x":1e-7,"x":1e-7'),             # a duplicate key
    ({"x": 1e-7}, '"x":1e-7', '"x": 1e-7'),                      # whitespace
    ({"x": 0}, '"x":0', '"x":-0'),                               # a negative zero integer
    ({"x": 0}, '"x":0', '"x":-0.0'),                             # a negative zero float
    ({"x": 1}, '"x":1', '"x":1.0'),                              # an integral float
    ({"x": 100}, '"x":100', '"x":1e2'),                          # an exponent
    ({"x": 100}, '"x":100', '"x":1E2'),                          # a capital exponent
    ({"s": "A"}, '"s":"A"', '"s":"\\u0041"'),                  # an escape canonical JSON does not use
    ({"s": "\u00e9"}, '"s":"\u00e9"', '"s":"\\u00e9"'),      # non-ASCII escaped
    ({"s": "/"}, '"s":"/"', '"s":"\\/"'),                      # an escaped solidus
    ({"a": 1, "b": 2}, '"a":1,"b":2', '"b":2,"a":1'),           # keys out of order
])
def test_non_canonical_bytes_are_refused_even_with_a_recomputed_hash(path, payload, canonical, forged):
    """Without a key anyone can recompute a sha256, so verify checks the stored form itself."""
    report = forge_second_record(path, payload, canonical, forged)
    assert not report.ok and report.problem.index == 2 and report.records == 1
    assert "canonical" in report.problem.what


@pytest.mark.parametrize("big", ["9007199254740993", "1" + "0" * 400])
def test_an_integer_beyond_2_53_in_the_stored_bytes_is_refused_even_with_a_recomputed_hash(path, big):
    """No double prints as it (RFC 8785 numbers are doubles), so no stored text holding one verifies."""
    report = forge_second_record(path, {"x": 5}, '"x":5', f'"x":{big}')
    assert not report.ok and report.problem.index == 2 and report.records == 1
    assert f"{big} is beyond 2**53" in report.problem.what


@pytest.mark.parametrize("number", [1e16, 2.0**53, -4.717226625597134e16, 1e21, 1e-7])
def test_a_double_that_canonical_json_prints_as_a_long_integer_verifies(path, number):
    """1e16 is stored as 10000000000000000 (RFC 8785 prints integral doubles without a fraction),
    which a JSON reader parses as an integer beyond 2**53: it is still the canonical text of that double."""
    ledger = Ledger(JsonlSink(path))
    ledger.append("TEST", "one", {"x": number})
    report = verify(path)
    assert report.ok and report.records == 1, report.problem


def test_a_sealed_head_whose_tree_size_is_not_a_count_is_one_line(tmp_path):
    """An unsigned head re-hashed after its tree_size was made a string: a problem named, not a TypeError."""
    from pxos_kernel.jsonl_sink import JsonlSink
    from pxos_kernel.ledger import Ledger, _sign

    ledger = Ledger(JsonlSink(tmp_path / "l.jsonl"))
    ledger.append("TEST", "one", {})
    head = {"format": "pxos-ledger-head", "tree_size": "1", "head_hash": "0" * 64, "root": "0" * 64, "signed": False}
    head["signature"] = _sign(head, None)
    assert ledger.check_head(head) == "the sealed head's tree_size '1' is not a record count"


# The records the kernel writes, as hypothesis draws them: every kind of payload value, and the
# agents, ops and corridors a plugin may pass (non-ASCII and escapes included).
_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
_payloads = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_names, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(_names, _payloads, max_size=4), agent=_names, op=_names,
       node=st.from_regex(r"[A-Za-z0-9_]{1,8}", fullmatch=True), key=st.sampled_from([None, b"k" * 32]))
def test_a_built_record_is_its_rfc8785_text_and_its_hash_covers_exactly_that(tmp_path, payload, agent, op, node, key):
    """The record text the kernel assembles by hand is byte for byte the reference RFC 8785 serialisation,
    its hash (sha256 or HMAC) is over that text without ``hash``, and verify accepts it."""
    import hashlib
    import hmac

    import rfc8785

    ledger = Ledger(JsonlSink(tmp_path / f"{uuid.uuid4().hex}.jsonl"), key=key, agent=agent)
    first = ledger.append("TEST", op, payload, corridor=f"DISTRICT_2.CHAMBER_X.NODE_{node}")
    second = ledger.append("TEST", op, payload, corridor=f"DISTRICT_2.CHAMBER_X.NODE_{node}")
    for record in (first, second):
        assert record.canonical.encode("utf-8") == rfc8785.dumps(dict(record))
        body = rfc8785.dumps({k: v for k, v in record.items() if k != "hash"})
        expected = hashlib.sha256(body).hexdigest() if key is None else hmac.new(key, body, "sha256").hexdigest()
        assert record["hash"] == expected
    assert second["prev"] == first["hash"]
    report = ledger.verify()
    assert report.ok and report.records == 2, report.problem
