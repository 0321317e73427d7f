"""The ledger view: timeline, chain status, records, the overview picture and live records.

The timeline is answered from :class:`LedgerIndex`, a compact summary of every
record (sequence, id, type, agent, corridor, op, time and what is wrong with it)
built by one pass over the ledger in the background and kept up to date by
reading only the records appended since. Filters are ``ledger query``'s own
(:class:`pxos_ledger.query.Filter`); what is wrong with a record is
``ledger render``'s own judgement (:func:`pxos_ledger.render.judge`); the chain
status is the kernel's :meth:`~pxos_kernel.Ledger.verify`. Until the index is
built, the newest page is read straight from the ledger's tail.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Callable, Iterator, Optional, Sequence

from pxos_kernel import LedgerCorruptError, NotFoundError, canonical_json

from pxos_explorer.drawing import drawn
from pxos_explorer.http import HttpError, Request, Route, Stream, json_response, png_response, sse_event, sse_stream

JUDGE_CHUNK = 2000          # records judged at a time while indexing (bounded memory)
OVERVIEW_CELLS = 48 * 100   # records drawn in one overview picture (the render's 48 columns, 100 rows)
POLL_SECONDS = 0.5          # how often the head is checked for new records
HEARTBEAT_SECONDS = 10.0
MAX_PAGE = 500
GENESIS_PREV = "0" * 64
FIELDS = ("seq", "id", "type", "agent", "corridor", "op", "ts", "problem")


class Row(tuple):
    """One record's summary; ``get`` lets ``ledger query``'s Filter judge it like a record."""

    __slots__ = ()
    _INDEX = {name: i for i, name in enumerate(FIELDS)}

    def get(self, name: str, default: Any = None) -> Any:
        i = self._INDEX.get(name)
        return default if i is None else self[i]

    def as_dict(self, index: int) -> dict:
        return {**dict(zip(FIELDS, self)), "index": index}


def summarise(record: Any, problem: str) -> Row:
    if not isinstance(record, dict):
        return Row((None, None, "UNREADABLE", None, None, None, None, problem or "not a JSON object"))
    intern = _intern
    return Row((record.get("seq"), record.get("id"), intern(record.get("type")), intern(record.get("agent")),
                intern(record.get("corridor")), intern(record.get("op")), record.get("ts"), intern(problem)))


_interned: dict = {}


def _intern(value: Any) -> Any:
    """One object per distinct type, agent, corridor and op (a few dozen), however many records."""
    if not isinstance(value, str):
        return value
    return _interned.setdefault(value, value)


class LedgerIndex:
    """Every record's :class:`Row`, in storage order, extended as records are appended."""

    def __init__(self, ledger: Any) -> None:
        from pxos_ledger.render import judge

        self.ledger = ledger
        self._judge: Callable[..., list] = judge
        self.rows: list[Row] = []
        self.state = "empty"          # empty -> building -> ready (or error)
        self.error: Optional[str] = None
        self.unreadable: Optional[str] = None
        self.built_at: Optional[float] = None
        self.changed = threading.Condition()
        self.read_lock = threading.Lock()   # around head(): the JSONL sink's cached head is not thread-safe
        self.build_lock = threading.Lock()  # one refresh at a time; readers of records() need no lock
        self._prev_hash, self._expected = GENESIS_PREV, 1
        self._head_hash: Optional[str] = None

    # -- building and updating -----------------------------------------------------------------

    def head(self) -> Optional[dict]:
        with self.read_lock:
            return self.ledger.head()

    def refresh(self) -> int:
        """Read what was appended since the last call (everything, the first time); return how many rows."""
        with self.build_lock:
            try:
                head = self.head()
            except Exception as exc:  # noqa: BLE001 - e.g. a torn last record: shown on the page
                self.error = f"{type(exc).__name__}: {exc}"
                if self.state != "ready":
                    self.state = "error"
                raise
            known = self.rows[-1] if self.rows else None
            if self.state == "ready":
                if head is not None and head.get("hash") == self._head_hash:
                    return 0
                head_seq, known_seq = (head or {}).get("seq"), known[0] if known else None
                if head is None or (isinstance(head_seq, int) and isinstance(known_seq, int) and head_seq < known_seq):
                    self._reset()  # the ledger was replaced or cut: start again
                elif self.unreadable:
                    return 0  # it cannot be read past a damaged record; "verify again" re-reads it all
            else:
                self.state = "building"
            start = self._expected if self.rows else 1
            added = 0
            pending: list = []
            try:
                for record in self.ledger.records(start):
                    if isinstance(record, dict) and isinstance(record.get("seq"), int) and record["seq"] < start:
                        continue
                    pending.append(record)
                    if len(pending) >= JUDGE_CHUNK:
                        added += self._add(pending)
                        pending = []
                added += self._add(pending)
            except LedgerCorruptError as exc:
                added += self._add(pending)
                self.unreadable = str(exc)
                with self.changed:
                    self.rows.append(Row((None, None, "UNREADABLE", None, None, None, None, str(exc))))
                    added += 1
            except Exception as exc:  # noqa: BLE001 - shown on the page, never hidden
                self.state, self.error = "error", f"{type(exc).__name__}: {exc}"
                raise
            self._head_hash = head.get("hash") if head else None
            self.state, self.error, self.built_at = "ready", None, time.time()
        if added:
            with self.changed:
                self.changed.notify_all()
        return added

    def _add(self, records: list) -> int:
        if not records:
            return 0
        judged = self._judge(records, self.ledger.key, prev_hash=self._prev_hash, expected=self._expected)
        rows = [summarise(record, problem) for record, problem in judged]
        last = records[-1]
        if isinstance(last, dict):
            self._prev_hash = last.get("hash", self._prev_hash)
            if isinstance(last.get("seq"), int):
                self._expected = last["seq"] + 1
        with self.changed:
            self.rows.extend(rows)
        return len(rows)

    def _reset(self) -> None:
        with self.changed:
            self.rows = []
        self.state, self.unreadable = "building", None
        self._prev_hash, self._expected, self._head_hash = GENESIS_PREV, 1, None

    def rebuild(self) -> None:
        with self.build_lock:
            self._reset()
        self.refresh()

    # -- reading -----------------------------------------------------------------------------------

    def since(self, index: int) -> list[tuple[int, Row]]:
        rows = self.rows
        return list(enumerate(rows[index:], start=index))

    def wait(self, count: int, timeout: float) -> bool:
        """Wait until there are more than ``count`` rows (or ``timeout`` passes)."""
        with self.changed:
            return self.changed.wait_for(lambda: len(self.rows) > count, timeout)


class LedgerView:
    """``/ledger`` and ``/api/ledger/...``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.kernel = app.kernel
        self._index: Optional[LedgerIndex] = None
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._verify: dict = {"state": "not run"}
        self._verify_lock = threading.Lock()
        self._verify_key: Optional[tuple] = None
        self._overview_cache: dict[tuple, bytes] = {}

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/ledger", page=True),
            Route("GET", "/ledger/{atom}", page=True),
            Route("GET", "/api/ledger", self.page),
            Route("GET", "/api/ledger/status", self.status),
            Route("POST", "/api/ledger/verify", self.verify_again),
            Route("GET", "/api/ledger/events", self.events),
            Route("GET", "/api/ledger/overview", self.overview),
            Route("GET", "/api/ledger/overview.png", self.overview_png),
            Route("GET", "/api/ledger/at/{index}", self.at),
            Route("GET", "/api/ledger/records/{atom}", self.record),
            Route("GET", "/api/ledger/records/{atom}/grid.png", self.grid_png),
        ]

    # -- the index and the watcher ------------------------------------------------------------

    @property
    def index(self) -> LedgerIndex:
        with self._start_lock:
            if self._index is None:
                self._index = LedgerIndex(self.kernel.ledger)
                threading.Thread(target=self._watch, name="pxos-explorer-ledger", daemon=True).start()
            return self._index

    def start(self) -> None:
        """Begin indexing the ledger in the background (the first page or the first status request does)."""
        self.index  # noqa: B018 - starts the watcher

    def _watch(self) -> None:
        index = self._index
        assert index is not None
        while not self._stop.is_set():
            try:
                if index.refresh():
                    self._verify_in_background()
                elif self._verify_key is None:
                    self._verify_in_background()
            except Exception:  # noqa: BLE001 - the state and error are on the index, shown by /status
                pass
            self._stop.wait(POLL_SECONDS)

    def close(self) -> None:
        self._stop.set()
        if self._index is not None:
            with self._index.changed:
                self._index.changed.notify_all()

    # -- the timeline -----------------------------------------------------------------------------

    def _filter(self, request: Request) -> Any:
        from pxos_ledger.query import Filter, parse_where

        corridor = request.arg("corridor")
        return Filter(agent=request.arg("agent"), types=tuple(t.strip().upper() for arg in request.args("type")
                                                             for t in arg.split(",") if t.strip()),
                      corridor=corridor.rstrip(".") if corridor else None, op=request.arg("op"),
                      since=request.arg("since"), until=request.arg("until"), atom=request.arg("id"),
                      where=[parse_where(w) for w in request.args("where")])

    def page(self, request: Request) -> Any:
        """``GET /api/ledger?type=RUN&agent=kernel&corridor=DISTRICT_4&since=...&id=...&page=1&limit=50``.

        Newest first (``order=asc`` for oldest first, as ``ledger query`` lists them).
        """
        filt = self._filter(request)
        limit = request.int_arg("limit", 50, 1, MAX_PAGE)
        number = request.int_arg("page", 1, 1, 10**9)
        newest_first = request.arg("order", "desc") != "asc"
        filtered = bool(filt.agent or filt.types or filt.corridor or filt.op or filt.since or filt.until
                        or filt.atom or filt.where)
        if filt.where:
            return json_response(self._scan_page(filt, limit, number, newest_first))
        if (self._index is None or self._index.state != "ready") and not filtered and number == 1:
            return json_response(self._tail_page(limit, newest_first))  # what a fresh explorer shows first
        index = self.index
        if index.state != "ready":
            index.refresh()
        rows = index.rows
        if not filtered:
            total = len(rows)
            positions = range(total - 1, -1, -1) if newest_first else range(total)
            chosen: Sequence[int] = positions[(number - 1) * limit: number * limit]
        else:
            positions = range(len(rows) - 1, -1, -1) if newest_first else range(len(rows))
            matches = [i for i in positions if filt.matches(rows[i])]
            total = len(matches)
            chosen = matches[(number - 1) * limit: number * limit]
        records = [rows[i].as_dict(i) for i in chosen]
        if filt.atom and not records:
            raise NotFoundError(f"no record {filt.atom} in the ledger")
        return json_response({"records": records, "total": total, "page": number, "limit": limit,
                              "pages": max(1, -(-total // limit)), "order": "desc" if newest_first else "asc",
                              "indexed": True, "verified_records": self._verified_records()})

    def _tail_page(self, limit: int, newest_first: bool) -> dict:
        """The newest (or oldest) ``limit`` records read straight from the ledger, before the index is ready."""
        from pxos_ledger.render import judge

        ledger = self.kernel.ledger
        with self._start_lock:
            head = self._index.head() if self._index is not None else ledger.head()
        last = head["seq"] if head and isinstance(head.get("seq"), int) else 0
        records: list = []
        before = None
        if newest_first:
            # Read backwards: the newest page costs ``limit`` records, whatever the ledger's size.
            # One record more than the page links its oldest record to the chain.
            records = list(itertools.islice(ledger.records_newest_first(), limit + 1))[::-1]
            if len(records) > limit:
                before = records.pop(0)
            first = max(1, last - len(records) + 1)
        else:
            first = 1
            records = list(itertools.islice(ledger.records(1), limit))
        judged = judge(records, ledger.key, prev_hash=before["hash"] if before else GENESIS_PREV, expected=first)
        rows = [summarise(r, p).as_dict(i) for i, (r, p) in enumerate(judged, start=first - 1)]
        self.start()  # the whole ledger is indexed after this first page, not before it
        if newest_first:
            rows.reverse()
        return {"records": rows, "total": last, "page": 1, "limit": limit, "pages": max(1, -(-last // limit)),
                "order": "desc" if newest_first else "asc", "indexed": False,
                "verified_records": self._verified_records()}

    def _scan_page(self, filt: Any, limit: int, number: int, newest_first: bool) -> dict:
        """Payload filters (``where``) need the records themselves: one pass over the ledger, as the CLI makes."""
        index = self.index
        matches = []
        for position, record in enumerate(self.kernel.ledger.records(filt.start_seq)):
            if filt.matches(record):
                matches.append(summarise(record, "").as_dict(position + filt.start_seq - 1))
        problems = {r[1]: r[7] for r in index.rows if r[7]} if index.state == "ready" else {}
        for row in matches:
            row["problem"] = problems.get(row["id"], "")
        if newest_first:
            matches.reverse()
        total = len(matches)
        return {"records": matches[(number - 1) * limit: number * limit], "total": total, "page": number,
                "limit": limit, "pages": max(1, -(-total // limit)), "order": "desc" if newest_first else "asc",
                "indexed": False, "verified_records": self._verified_records()}

    def at(self, request: Request) -> Any:
        """The record at a position of the ledger (what the overview picture's cells point at)."""
        try:
            position = int(request.params["index"])
        except ValueError:
            raise HttpError(400, f"record position {request.params['index']!r} is not a number") from None
        rows = self.index.rows
        if not 0 <= position < len(rows):
            raise NotFoundError(f"there is no record at position {position} (the ledger has {len(rows)})")
        return json_response(rows[position].as_dict(position))

    # -- chain status -------------------------------------------------------------------------------

    def _verified_records(self) -> Optional[int]:
        report = self._verify.get("report")
        return None if report is None else report["records"]

    def _verify_in_background(self, force: bool = False) -> None:
        index = self.index
        head = index.head()
        key = (None if head is None else head.get("seq"), None if head is None else head.get("hash"))
        with self._verify_lock:
            if not force and (key == self._verify_key or self._verify.get("state") == "verifying"):
                return
            self._verify_key = key
            previous = self._verify.get("report")
            self._verify = {"state": "verifying", "started": time.time(), "report": previous}
        threading.Thread(target=self._run_verify, name="pxos-explorer-verify", daemon=True).start()

    def _run_verify(self) -> None:
        started = time.monotonic()
        try:
            report = self.kernel.ledger.verify().as_dict()
            result = {"state": "done", "report": report, "seconds": round(time.monotonic() - started, 3),
                      "at": time.time()}
        except Exception as exc:  # noqa: BLE001 - a ledger that cannot be verified is shown as such
            result = {"state": "error", "error": f"{type(exc).__name__}: {exc}", "report": None, "at": time.time()}
        with self._verify_lock:
            self._verify = result

    def status(self, request: Request) -> Any:
        """The chain status: the kernel's verify report, and what the index has found."""
        index = self.index
        if self._verify_key is None:
            self._verify_in_background()
        rows = index.rows
        broken = [r.as_dict(i) for i, r in enumerate(rows) if r[7]][:20]
        report = self._verify.get("report")
        first_problem = None
        if report and report.get("problem"):
            problem = report["problem"]
            position = problem["index"] - 1  # verify counts records from 1, in storage order
            first_problem = {**problem, "record": rows[position].as_dict(position) if position < len(rows) else None}
        return json_response({
            "location": self.kernel.ledger.location,
            "signed": self.kernel.ledger.key is not None,
            "records": len(rows),
            "index": {"state": index.state, "error": index.error, "unreadable": index.unreadable,
                      "built_at": index.built_at},
            "verify": {**{k: v for k, v in self._verify.items() if k != "report"}, "report": report,
                       "first_problem": first_problem},
            "broken": broken,
            "broken_count": sum(1 for r in rows if r[7]),
            "types": sorted({r[2] for r in rows if r[2]}),
            "agents": sorted({r[3] for r in rows if r[3]}),
            "ops": sorted({r[5] for r in rows if r[5]}),
        })

    def verify_again(self, request: Request) -> Any:
        """Re-read the whole ledger: rebuild the index and run the kernel's verify again."""
        self.index.rebuild()
        self._verify_in_background(force=True)
        return self.status(request)

    # -- one record ---------------------------------------------------------------------------------

    def _find(self, atom: str) -> tuple[dict, Optional[int], str]:
        index = self.index
        for position in range(len(index.rows) - 1, -1, -1):
            row = index.rows[position]
            if row[1] == atom:
                return self._read_at(row[0], atom), position, row[7]
        return self.kernel.ledger.find(atom), None, ""

    def _read_at(self, seq: Any, atom: str) -> dict:
        if isinstance(seq, int):
            for record in self.kernel.ledger.records(seq):
                if record.get("id") == atom:
                    return record
                if isinstance(record.get("seq"), int) and record["seq"] > seq:
                    break
        return self.kernel.ledger.find(atom)

    def record(self, request: Request) -> Any:
        """A record: its canonical JSON, its token stream and its pixel grid, and whether it verified."""
        from pxos_ledger.tokens import pixel_grid, token_stream

        atom = request.params["atom"]
        record, position, problem = self._find(atom)
        verified = self._verified_records()
        tokens = token_stream(record.get("payload"), request.int_arg("tokens", 4096, 1, 4096))
        return json_response({
            "record": record, "canonical": canonical_json(record), "position": position, "problem": problem,
            "verified": None if verified is None or position is None else position < verified,
            "tokens": tokens, "grid": pixel_grid(record.get("payload")),
        })

    def grid_png(self, request: Request) -> Any:
        from pxos_ledger.tokens import grid_png, pixel_grid

        record, _, _ = self._find(request.params["atom"])
        return png_response(drawn(lambda path: grid_png(pixel_grid(record.get("payload")), path)), cache=True)

    # -- the overview picture -----------------------------------------------------------------------

    def _window(self, request: Request) -> tuple[int, int]:
        rows = self.index.rows
        count = min(OVERVIEW_CELLS, len(rows))
        default = max(0, len(rows) - count)
        start = request.int_arg("start", default, 0, max(0, len(rows) - 1) if rows else 0)
        return start, min(count, len(rows) - start)

    def overview(self, request: Request) -> Any:
        """Where the cells of the overview picture are, so a click can name its record."""
        from pxos_ledger.render import CELL, COLUMNS, GAP

        index = self.index
        if index.state != "ready":
            index.refresh()
        start, count = self._window(request)
        return json_response({"start": start, "count": count, "total": len(index.rows), "window": OVERVIEW_CELLS,
                              "columns": max(1, min(COLUMNS, count)), "cell": CELL, "gap": GAP,
                              "broken": sum(1 for r in index.rows[start:start + count] if r[7])})

    def overview_png(self, request: Request) -> Any:
        """``ledger render``'s picture of a window of the ledger (cached until the ledger changes)."""
        from pxos_ledger.render import render

        index = self.index
        if index.state != "ready":
            index.refresh()
        start, count = self._window(request)
        rows = index.rows[start:start + count]
        key = (start, count, rows[-1][1] if rows else None, sum(1 for r in rows if r[7]))
        picture = self._overview_cache.get(key)
        if picture is None:
            judged = [({"type": r[2], "corridor": r[4], "id": r[1]}, r[7]) for r in rows]
            picture = drawn(lambda path: render(judged, path))
            self._overview_cache = {key: picture}
        return png_response(picture)

    # -- live records -------------------------------------------------------------------------------

    def events(self, request: Request) -> Stream:
        """Server-sent events: ``record`` for each record appended after ``after`` (a position)."""
        index = self.index
        last_event = request.headers.get("last-event-id")
        start = request.int_arg("after", len(index.rows), 0, 10**12)
        if last_event and last_event.isdigit():
            start = int(last_event) + 1
        return sse_stream(self._event_stream(index, start))

    def _event_stream(self, index: LedgerIndex, start: int) -> Iterator[bytes]:
        yield b"retry: 2000\n\n"
        sent = start
        while not self._stop.is_set():
            if index.wait(sent, HEARTBEAT_SECONDS):
                for position, row in index.since(sent):
                    yield sse_event("record", row.as_dict(position), str(position))
                    sent = position + 1
            else:
                yield b": keep-alive\n\n"

