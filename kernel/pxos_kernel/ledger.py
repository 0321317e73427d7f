"""The ledger core: record schema, hash chain, ATOM ids and verification.

A record is one JSON object::

    {"v":1,"seq":42,"id":"ATOM-RUN-20261121-000042","type":"RUN",
     "ts":"2026-11-21T10:00:00.123456Z","agent":"kernel",
     "corridor":"DISTRICT_4.CHAMBER_EXEC.NODE_PRE","op":"run_program",
     "payload":{...},"prev":"<sha256 of the previous record>","hash":"<hex>"}

``hash`` is the SHA-256 (or, with a key, HMAC-SHA-256) of the RFC 8785
canonical JSON of the record without ``hash``; ``prev`` of the first record is
64 zeros. Sinks persist records; only this module builds and checks them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

from pxos_kernel.canonical import canonical_json, json_string
from pxos_kernel.errors import LedgerCorruptError, LedgerError, NotFoundError

VERSION = 1
GENESIS_PREV = "0" * 64
CORRIDOR = re.compile(r"^DISTRICT_(\d+)\.CHAMBER_([A-Za-z0-9]+)\.NODE_([A-Za-z0-9_]+)$")
RECORD_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")
ATOM_ID = re.compile(r"^ATOM-([A-Z][A-Z0-9_]*)-(\d{8})-(\d{6,})$")
FIELDS = ("v", "seq", "id", "type", "ts", "agent", "corridor", "op", "payload", "prev", "hash")
DEFAULT_CORRIDOR = "DISTRICT_0.CHAMBER_KERNEL.NODE_EVENT"
MAX_APPEND_ATTEMPTS = 10_000


def atom_id(record_type: str, ts: str, seq: int) -> str:
    """``ATOM-<TYPE>-<YYYYMMDD>-<seq>`` with at least six digits of sequence."""
    return f"ATOM-{record_type}-{ts[0:4]}{ts[5:7]}{ts[8:10]}-{seq:06d}"


def record_hash(record: dict, key: Optional[bytes] = None) -> str:
    """The hash of ``record`` as stored in its ``hash`` field."""
    body = {k: v for k, v in record.items() if k != "hash"}
    data = canonical_json(body).encode("utf-8")
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def check_corridor(corridor: str) -> str:
    """Return ``corridor`` if it is ``DISTRICT_<n>.CHAMBER_<name>.NODE_<name>``; LedgerError otherwise."""
    if not isinstance(corridor, str) or not CORRIDOR.match(corridor):
        raise LedgerError(
            f"corridor {corridor!r} does not match DISTRICT_<n>.CHAMBER_<name>.NODE_<name>"
        )
    return corridor


_second = (-1, "")


def _utc_now() -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC), formatting the seconds once per second."""
    global _second
    micros = time.time_ns() // 1000
    seconds, fraction = divmod(micros, 1_000_000)
    if seconds != _second[0]:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{fraction:06d}Z"


_HEADS: dict = {}  # (agent, corridor) -> the canonical text they open a record with
_QUOTED: dict = {}  # op -> its JSON string


def _head_text(agent: str, corridor: str) -> str:
    text = f'{{"agent":{json_string(agent)},"corridor":{json_string(corridor)}'
    if len(_HEADS) < 4096:
        _HEADS[(agent, corridor)] = text
    return text


def _quoted(op: str) -> str:
    text = json_string(op)
    if len(_QUOTED) < 4096:
        _QUOTED[op] = text
    return text


class Record(dict):
    """A ledger record; ``canonical`` holds its RFC 8785 text when the kernel built it."""

    __slots__ = ("canonical",)
    canonical: str


@dataclass
class Problem:
    """The first thing wrong in a ledger, and where."""

    seq: Optional[int]
    index: int
    what: str

    def __str__(self) -> str:
        where = f"record #{self.index}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"{where}: {self.what}"


@dataclass
class VerifyReport:
    """The result of :meth:`Ledger.verify`."""

    ok: bool
    records: int
    head_seq: int = 0
    head_hash: str = GENESIS_PREV
    problem: Optional[Problem] = None
    location: str = ""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "problem": None if self.problem is None else {
                "seq": self.problem.seq, "index": self.problem.index, "what": self.problem.what},
            "location": self.location,
        }


@dataclass
class Ledger:
    """Appends chained records to a sink and verifies them.

    Safe for many writers at once: appends are compare-and-append on the head,
    retried when another writer got there first.
    """

    sink: Any
    key: Optional[bytes] = None
    agent: str = "kernel"
    _last: Optional[dict] = field(default=None, repr=False)

    @property
    def location(self) -> str:
        return getattr(self.sink, "location", type(self.sink).__name__)

    def append(
        self,
        record_type: str,
        op: str,
        payload: Any = None,
        *,
        corridor: str = DEFAULT_CORRIDOR,
        agent: Optional[str] = None,
    ) -> dict:
        """Append one record and return it (with its ``seq``, ``id`` and ``hash``)."""
        payload_json = _check_entry(record_type, op, payload, corridor)
        payload = {} if payload is None else payload
        # A sink with append_built holds its head while the record is built, so it never loses a race:
        # used at once where the sink asks for it (PostgreSQL), and after a first lost race elsewhere.
        append_built = getattr(self.sink, "append_built", None)
        head = self._last  # a guess: right unless another writer appended since our last record
        for attempt in range(MAX_APPEND_ATTEMPTS):
            if append_built is not None and (attempt or getattr(self.sink, "build_under_lock", False)):
                record = append_built(lambda top: self._build(record_type, op, payload, corridor, agent, top,
                                                              payload_json))
                self._last = record
                return record
            if attempt > 1:
                wait_backoff(attempt)
            if attempt or head is None:
                head = self.sink.head()
            record = self._build(record_type, op, payload, corridor, agent, head, payload_json)
            if self.sink.compare_and_append(record):
                self._last = record
                return record
        raise LedgerError(f"ledger {self.location}: gave up after {MAX_APPEND_ATTEMPTS} conflicting appends")

    def _check_head(self, head: Any) -> None:
        """Refuse to chain onto a last record without a sequence number and hash (a hand-edited tail)."""
        seq = head.get("seq") if isinstance(head, dict) else None
        problem = ("is not a JSON object" if not isinstance(head, dict) else
                   "has no integer 'seq'" if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 else
                   "has no 'hash'" if not isinstance(head.get("hash"), str) else "")
        if problem:
            raise LedgerCorruptError(f"ledger {self.location}: its last record {problem}, so nothing can be appended "
                                     "after it; the ledger is left as it is ('pxos-kernel ledger verify' names it)")

    def append_many(self, entries: list[dict], *, agent: Optional[str] = None) -> list[dict]:
        """Append several records atomically, all or none, as consecutive sequence numbers.

        Each entry is ``{"type", "op", "payload", "corridor"?, "agent"?}``. Needs a sink with
        ``compare_and_append_many`` (one transaction); others raise LedgerError.
        """
        many = getattr(self.sink, "compare_and_append_many", None)
        if many is None:
            raise LedgerError(f"the ledger sink at {self.location} cannot append several records atomically")
        if not entries:
            return []
        for entry in entries:
            _check_entry(entry["type"], entry["op"], entry.get("payload"), entry.get("corridor", DEFAULT_CORRIDOR))
        for attempt in range(MAX_APPEND_ATTEMPTS):
            if attempt:
                wait_backoff(attempt)
            head = self.sink.head()
            records: list[dict] = []
            for entry in entries:
                records.append(self._build(entry["type"], entry["op"], entry.get("payload") or {},
                                           entry.get("corridor", DEFAULT_CORRIDOR),
                                           entry.get("agent") or agent, records[-1] if records else head))
            if many(records):
                self._last = records[-1]
                return records
        raise LedgerError(f"ledger {self.location}: gave up after {MAX_APPEND_ATTEMPTS} conflicting appends")

    def _build(self, record_type: str, op: str, payload: Any, corridor: str, agent: Optional[str],
               head: Optional[dict], payload_json: Optional[str] = None) -> dict:
        if head is None:
            seq, prev = 1, GENESIS_PREV
        else:
            if head is not self._last:  # the record this ledger appended last is known good; a sink's head may not be
                self._check_head(head)
            seq, prev = head["seq"] + 1, head["hash"]
        ts = _utc_now()
        agent = agent or self.agent
        atom = f"ATOM-{record_type}-{ts[0:4]}{ts[5:7]}{ts[8:10]}-{seq:06d}"  # atom_id(), inlined on the hot path
        # The canonical text is assembled directly (keys in RFC 8785 order) instead of
        # re-serialising the whole record; tests check it equals canonical_json().
        head_text = _HEADS.get((agent, corridor)) or _head_text(agent, corridor)
        tail_text = (f',"id":"{atom}","op":{_QUOTED.get(op) or _quoted(op)},"payload":'
                     f'{payload_json if payload_json is not None else canonical_json(payload)},'
                     f'"prev":"{prev}","seq":{seq},"ts":"{ts}","type":"{record_type}","v":{VERSION}}}')
        body = (head_text + tail_text).encode("utf-8")
        digest = hashlib.sha256(body).hexdigest() if self.key is None else hmac.digest(self.key, body, "sha256").hex()
        record = Record(v=VERSION, seq=seq, id=atom, type=record_type, ts=ts, agent=agent, corridor=corridor, op=op,
                        payload=payload, prev=prev, hash=digest)
        record.canonical = f'{head_text},"hash":"{digest}"{tail_text}'
        return record

    def seal(self) -> dict:
        """A signed statement of the current head: tree size, head hash and Merkle root.

        Kept outside the ledger, it lets :meth:`check_head` detect records cut from
        the tail. With an HMAC key it is signed; without one it only carries a digest.
        """
        report = self.verify()
        if not report.ok:
            raise LedgerCorruptError(f"ledger {self.location} does not verify, refusing to seal it: {report.problem}")
        leaves: list[str] = []
        for record in self.sink.read(1):
            if len(leaves) == report.records:  # a writer may have appended since
                break
            leaves.append(leaf_hash(record))
        head = {"format": "pxos-ledger-head", "version": 1, "location": self.location,
                "tree_size": len(leaves), "head_hash": report.head_hash, "root": merkle_root(leaves),
                "ts": _utc_now(), "signed": self.key is not None}
        head["signature"] = _sign(head, self.key)
        return head

    def check_head(self, head: dict) -> Optional[str]:
        """What is wrong with the ledger against a sealed ``head`` (or ``None`` when it holds)."""
        if not isinstance(head, dict) or head.get("format") != "pxos-ledger-head":
            raise LedgerError("the sealed head is not a pxos-ledger-head document")
        problem = check_head_signature(head, self.key)
        if problem:
            return problem
        size = head.get("tree_size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            return f"the sealed head's tree_size {size!r} is not a record count"
        leaves: list[str] = []
        last: dict = {}
        for record in self.sink.read(1):
            if len(leaves) == size:
                break
            leaves.append(leaf_hash(record))
            last = record
        if len(leaves) < size:
            return (f"truncated at the tail: the sealed head covers {size} records, "
                    f"the ledger has only {len(leaves)}")
        if size and last.get("hash") != head["head_hash"]:
            return f"record {size} has hash {str(last.get('hash'))[:16]}..., the sealed head says {head['head_hash'][:16]}..."
        if merkle_root(leaves) != head["root"]:
            return "the Merkle root of the first records does not match the sealed head"
        return None

    def records(self, start_seq: int = 1) -> Iterator[dict]:
        """Every record from ``start_seq`` in storage order (unverified)."""
        return self.sink.read(start_seq)

    def records_newest_first(self) -> Iterator[dict]:
        """Every record from the last to the first (unverified): "the last N" costs N reads.

        Uses the sink's ``read_newest_first`` where it has one; otherwise reads forwards
        and reverses, which costs the whole ledger.
        """
        newest_first = getattr(self.sink, "read_newest_first", None)
        if newest_first is not None:
            return newest_first()
        return reversed(list(self.sink.read(1)))

    def head(self) -> Optional[dict]:
        return self.sink.head()

    def find(self, atom: str) -> dict:
        """The record with ATOM id ``atom``; raises NotFoundError."""
        match = ATOM_ID.match(atom or "")
        if not match:
            raise NotFoundError(f"{atom!r} is not an ATOM id (ATOM-<TYPE>-<YYYYMMDD>-<seq>)")
        seq = int(match.group(3))
        for record in self.sink.read(seq):
            if record.get("id") == atom:
                return record
            if isinstance(record.get("seq"), int) and record["seq"] > seq:
                break
        raise NotFoundError(f"no record {atom} in ledger {self.location}")

    def verify(self, start_seq: int = 1) -> VerifyReport:
        """Recompute every hash and link from ``start_seq``; stop at the first problem."""
        prev_hash, expected = GENESIS_PREV, 1
        if start_seq > 1:
            before = next((r for r in self.sink.read(start_seq - 1) if r.get("seq") == start_seq - 1), None)
            if before is None:
                return VerifyReport(False, 0, problem=Problem(start_seq - 1, 0, "record not found"),
                                    location=self.location)
            prev_hash, expected = before.get("hash"), start_seq
        count = 0
        rows = getattr(self.sink, "read_rows", None)
        stored = rows(start_seq) if rows else ((None, r) for r in self.sink.read(start_seq))
        unchecked: list[tuple[int, dict, str]] = []  # fast-path records whose canonical form is checked in blocks
        try:
            for index, (text, record, plain) in enumerate(_parsed(stored, self.location), start=1):
                if plain and text is not None and _stored_text_holds(record, text, expected, prev_hash, self.key):
                    if self.key is None:  # a sha256 anyone can recompute does not vouch for the bytes' form
                        unchecked.append((index, record, text))
                        if len(unchecked) >= _CANONICAL_BLOCK:
                            found = _first_noncanonical(unchecked)
                            if found:
                                return self._failed(*found)
                            unchecked.clear()
                    count += 1
                    prev_hash, expected = record["hash"], expected + 1
                    continue
                found = _first_noncanonical(unchecked)
                if found:
                    return self._failed(*found)
                unchecked.clear()
                what = check_record(record, expected, prev_hash, self.key)
                if text is not None and (not what or (what.startswith("hash mismatch")
                                                      and _stored_hash_holds(record, text, self.key))):
                    what = stored_text_problem(record, text) or what  # bytes someone hashed as they are
                if what:
                    seq = record.get("seq") if isinstance(record, dict) else None
                    return VerifyReport(False, count, expected - 1, prev_hash,
                                        Problem(seq, index, what), self.location)
                count += 1
                prev_hash, expected = record["hash"], expected + 1
        except LedgerCorruptError as exc:
            found = _first_noncanonical(unchecked)
            if found:
                return self._failed(*found)
            return VerifyReport(False, count, expected - 1, prev_hash,
                                Problem(None, count + 1, str(exc)), self.location)
        found = _first_noncanonical(unchecked)
        if found:
            return self._failed(*found)
        return VerifyReport(True, count, expected - 1, prev_hash, None, self.location)

    def _failed(self, index: int, record: dict, what: str) -> VerifyReport:
        """The report for a record that passed its hash and link checks but whose stored bytes are not canonical."""
        return VerifyReport(False, index - 1, record["seq"] - 1, record["prev"], Problem(record["seq"], index, what),
                            self.location)

    def close(self) -> None:
        self.sink.close()


def _parsed(stored: Iterator[tuple], location: str) -> Iterator[tuple[Optional[str], Any, bool]]:
    """``(stored text or None, record, plain)`` from a sink's ``read_rows`` (seq, text) or ``read`` records.

    ``plain`` is False when a number token of the text is not in canonical form,
    which re-encoding with the C encoder would not reveal.
    """
    scan = _stored_decoder().scan_once
    for seq, item in stored:
        if seq is None:
            yield None, item, False
            continue
        plain = True
        try:
            record, end = scan(item, 0)
            if end != len(item):
                raise ValueError(f"extra data after the record at character {end}")
        except _NonCanonical:  # valid JSON with a number canonical JSON prints otherwise: the slow check names it
            record, plain = _json().loads(item), False
        except (ValueError, StopIteration) as exc:
            where = f"row seq {seq}" if isinstance(seq, int) else seq
            raise LedgerCorruptError(f"{location} {where}: not JSON ({exc})") from None
        yield item, record, plain


class _NonCanonical(Exception):
    """Raised while parsing stored text at a number token that canonical JSON prints otherwise."""


def _float_token(token: str) -> float:
    value = float(token)
    if 1e-4 <= abs(value) < 1e16 and not value.is_integer() and repr(value) == token:
        return value  # in this range Python's repr is ECMAScript's number format
    from pxos_kernel.canonical import format_number

    if format_number(value) != token:  # 1e-07, 100.0, -0.0, 1E5: RFC 8785 prints these differently
        raise _NonCanonical(token)
    return value


def _int_token(token: str) -> Any:
    value = int(token)
    if len(token) > 15 and abs(value) > 2**53 - 1:
        # RFC 8785 numbers are doubles, and it prints an integral double such as 1e16 without a
        # fraction: such a token is canonical, and stands for that double. Any other integer this
        # large has no exact JSON number.
        from pxos_kernel.canonical import format_number

        try:
            number = float(value)
        except OverflowError:  # beyond any double
            raise _NonCanonical(token) from None
        if format_number(number) != token:
            raise _NonCanonical(token)
        return number
    return value


_decoder: Any = None


def _stored_decoder() -> Any:
    """A JSON decoder whose number hooks catch the tokens the C encoder would echo but RFC 8785 would not."""
    global _decoder
    if _decoder is None:
        _decoder = _json().JSONDecoder(parse_float=_float_token, parse_int=_int_token)
    return _decoder


def _json() -> Any:
    import json

    return json


#: How many fast-path records are re-encoded at once (one C call) to check they are canonical.
_CANONICAL_BLOCK = 2000
_encode_many: Any = None


def _first_noncanonical(entries: list[tuple[int, dict, str]]) -> Optional[tuple[int, dict, str]]:
    """The first ``(index, record, problem)`` whose stored text is not its canonical JSON, or None.

    The whole block is re-encoded in one call and compared with the stored texts
    joined the same way. Each text was parsed on its own as exactly one JSON
    value, and no JSON value is a proper prefix of another that is followed by a
    comma, so equal joins mean every text equals its own encoding. Non-BMP
    characters (keys sort by UTF-16 units) get the exact encoder record by record.
    """
    global _encode_many
    if not entries:
        return None
    if _encode_many is None:
        from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]

        def refuse(value: Any) -> Any:
            raise TypeError(f"{type(value).__name__} is not JSON")

        _encode_many = c_make_encoder(None, refuse, encode_basestring, None, ":", ",", True, False, False) \
            if c_make_encoder else None
    joined = "[" + ",".join(text for _, _, text in entries) + "]"
    wide = not joined.isascii() and max(joined) > "\uffff"
    if not wide and _encode_many is not None and "".join(_encode_many([r for _, r, _ in entries], 0)) == joined:
        return None
    for index, record, text in entries:
        what = stored_text_problem(record, text)
        if what:
            return index, record, what
    return None


def stored_text_problem(record: Any, text: str) -> str:
    """What is wrong with ``text`` as the stored form of ``record`` (``""`` when it is its canonical JSON).

    Verify checks the stored bytes, not only the record they parse to: a line
    with a duplicate key parses to the last value in Python and to the first in
    other readers, so only the canonical text itself is accepted.
    """
    try:
        expected = canonical_json(record)
    except (TypeError, ValueError) as exc:
        return f"stored bytes cannot be canonical JSON: {exc}"
    if expected == text:
        return ""
    duplicate = _duplicate_key(text)
    if duplicate:
        return (f"stored bytes hold the key {duplicate!r} twice: readers disagree on which value counts "
                "(the record is not its canonical RFC 8785 serialisation)")
    at = next((i for i, (a, b) in enumerate(zip(expected, text)) if a != b), min(len(expected), len(text)))
    return (f"stored bytes are not the canonical RFC 8785 serialisation of the record they parse to "
            f"(they differ at character {at}: {text[max(0, at - 10):at + 10]!r})")


def _duplicate_key(text: str) -> Optional[str]:
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys) and not found:
            found.append(next(k for k in keys if keys.count(k) > 1))
        return dict(items)

    try:
        _json().loads(text, object_pairs_hook=pairs)
    except ValueError:
        return None
    return found[0] if found else None


def _stored_text_holds(record: Any, text: str, expected_seq: int, prev_hash: str, key: Optional[bytes]) -> bool:
    """The fast check of a record stored as its canonical text: hash the stored bytes, not a re-encoding.

    In canonical text the top-level ``hash`` member is the first ``,"hash":"`` (only ``agent`` and
    ``corridor`` sort before it, and a quote inside a string is always escaped), so removing it
    gives exactly the bytes that were hashed. Anything unusual returns False, and the caller
    runs the full :func:`check_record`, which also says what is wrong.
    """
    if type(record) is not dict or len(record) != len(FIELDS) or record.get("v") != VERSION \
            or record.get("seq") != expected_seq or record.get("prev") != prev_hash:
        return False
    if not _stored_hash_holds(record, text, key):
        return False
    corridor, record_type, ts = record.get("corridor"), record.get("type"), record.get("ts")
    if type(corridor) is not str or type(record_type) is not str or type(ts) is not str:
        return False
    if corridor not in _GOOD_CORRIDORS:  # a ledger holds few distinct corridors: each is matched once
        if CORRIDOR.match(corridor) is None:
            return False
        if len(_GOOD_CORRIDORS) < 4096:
            _GOOD_CORRIDORS.add(corridor)
    # atom_id(record_type, ts, expected_seq), inlined: this runs once per record verified
    return record.get("id") == f"ATOM-{record_type}-{ts[0:4]}{ts[5:7]}{ts[8:10]}-{expected_seq:06d}"


#: Corridors verify has matched against the grammar already.
_GOOD_CORRIDORS: set = set()


def _stored_hash_holds(record: dict, text: str, key: Optional[bytes]) -> bool:
    """Whether the record's ``hash`` is the hash of its stored text without the ``hash`` member."""
    digest = record.get("hash")
    if type(digest) is not str:
        return False
    member = f',"hash":"{digest}"'
    cut = text.find(member)
    if cut < 0:
        return False
    body = (text[:cut] + text[cut + len(member):]).encode("utf-8")
    actual = hashlib.sha256(body).hexdigest() if key is None else hmac.digest(key, body, "sha256").hex()
    return hmac.compare_digest(actual, digest)


#: Record types and corridors already checked: a process appends few distinct ones, many times.
_VALID: set = set()


def _check_entry(record_type: Any, op: Any, payload: Any, corridor: Any) -> str:
    """Validate one entry to append; return its payload's canonical JSON."""
    if type(record_type) is not str or type(corridor) is not str or (record_type, corridor) not in _VALID:
        if not isinstance(record_type, str) or not RECORD_TYPE.match(record_type):
            raise LedgerError(f"record type {record_type!r} must be upper-case letters, digits and '_'")
        check_corridor(corridor)
        if len(_VALID) < 4096:
            _VALID.add((record_type, corridor))
    if not isinstance(op, str) or not op:
        raise LedgerError("record op must be a non-empty string")
    try:
        return canonical_json({} if payload is None else payload)
    except (TypeError, ValueError) as exc:
        raise LedgerError(f"checkpoint payload is not JSON-serialisable: {exc}") from None


# -- Merkle tree (RFC 9162 section 2.1) and sealed heads --------------------------------


def leaf_hash(record: dict) -> str:
    """``SHA-256(0x00 || canonical JSON of the whole record)``, hex."""
    return hashlib.sha256(b"\x00" + canonical_json(record).encode("utf-8")).hexdigest()


def node_hash(left: str, right: str) -> str:
    """``SHA-256(0x01 || left || right)`` over the raw digests, hex."""
    return hashlib.sha256(b"\x01" + bytes.fromhex(left) + bytes.fromhex(right)).hexdigest()


def merkle_root(leaves: list[str]) -> str:
    """The Merkle tree hash of leaf hashes (RFC 9162 MTH); the empty tree hashes ``b""``."""
    if not leaves:
        return hashlib.sha256(b"").hexdigest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return node_hash(merkle_root(leaves[:split]), merkle_root(leaves[split:]))


def _sign(head: dict, key: Optional[bytes]) -> str:
    body = canonical_json({k: v for k, v in head.items() if k != "signature"}).encode("utf-8")
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def check_head_signature(head: dict, key: Optional[bytes]) -> Optional[str]:
    """What is wrong with a sealed head's signature, or ``None``."""
    missing = [f for f in ("tree_size", "head_hash", "root", "signed", "signature") if f not in head]
    if missing:
        return f"the sealed head lacks {', '.join(missing)}"
    if head["signed"] and key is None:
        return "the sealed head is signed with an HMAC key, and no key is configured to check it"
    if not head["signed"] and key is not None:
        return "the sealed head is unsigned but this ledger has an HMAC key: a signed head was expected"
    if not hmac.compare_digest(str(head["signature"]), _sign(head, key)):
        return "the sealed head's signature does not match (edited, or a different key)"
    return None


def check_record(record: Any, expected_seq: int, prev_hash: str, key: Optional[bytes] = None) -> str:
    """Return what is wrong with ``record`` at this place in the chain, or ``""``."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [f for f in FIELDS if f not in record]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    extra = sorted(set(record) - set(FIELDS))
    if extra:
        return f"unknown field(s) {', '.join(extra)}"
    if record["v"] != VERSION:
        return f"unknown record version {record['v']!r} (this kernel reads version {VERSION})"
    if record["seq"] != expected_seq:
        return f"sequence number {record['seq']!r} where {expected_seq} was expected (record deleted, inserted or reordered)"
    if record["prev"] != prev_hash:
        return f"link broken: prev is {str(record['prev'])[:16]}..., the previous record's hash is {prev_hash[:16]}..."
    try:
        actual = record_hash(record, key)
    except (TypeError, ValueError) as exc:
        return f"cannot be hashed: {exc}"
    if not hmac.compare_digest(str(record["hash"]), actual):
        return "hash mismatch: the record was edited" + (" or the HMAC key is wrong" if key else "")
    if record["id"] != atom_id(str(record["type"]), str(record["ts"]), record["seq"]):
        return f"ATOM id {record['id']!r} does not match its type, date and seq"
    if not isinstance(record["corridor"], str) or not CORRIDOR.match(record["corridor"]):
        return f"corridor {record['corridor']!r} does not match the corridor grammar"
    return ""


def iter_json_records(lines: Iterable[bytes], location: str) -> Iterator[dict]:
    """Parse JSONL records, raising LedgerCorruptError with the line and byte offset of damage."""
    import json

    offset = 0
    for number, line in enumerate(lines, start=1):
        if not line.endswith(b"\n"):
            raise LedgerCorruptError(
                f"{location} line {number} (byte {offset}): torn record, {len(line)} bytes without a "
                "newline (a writer crashed mid-append); run 'pxos-kernel ledger repair' to set it aside"
            )
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise LedgerCorruptError(f"{location} line {number} (byte {offset}): not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise LedgerCorruptError(f"{location} line {number} (byte {offset}): not a JSON object")
        offset += len(line)
        yield record


def wait_backoff(attempt: int) -> None:
    """Sleep a little more each time a compare-and-append loses a race."""
    time.sleep(min(0.0001 * (2 ** min(attempt, 10)), 0.05))
