"""Checkpoints without waiting: a linearizing queue, periodic and event-triggered emitters (seeds 000, 001).

Threads and asyncio tasks hand checkpoint requests to a :class:`CheckpointQueue`;
one writer thread appends them to the ledger in (priority, arrival) order, lower
priority numbers first. A *mixture* (a named group of requests) is appended as
consecutive records in one atomic step, all or none. Requests are validated when
they are submitted, so a bad one raises at once and nothing is queued::

    queue = CheckpointQueue(kernel.ledger)
    future = queue.submit("STATE", "tick", {"n": 1}, priority=2)
    record = future.result()                      # or: await asyncio.wrap_future(future)
    emitter = Checkpointer(queue)
    emitter.every(60, "STATE", "periodic", lambda: {"load": 0.3})
    emitter.on("ANOMALY_DETECTED", "ALERT", priority=0)
    emitter.emit("ANOMALY_DETECTED", {"where": "router"})   # returns immediately
"""

from __future__ import annotations

import heapq
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Callable, Optional

from pxos_kernel.errors import LedgerError
from pxos_kernel.ledger import DEFAULT_CORRIDOR, _check_entry


class CheckpointQueue:
    """Linearizes checkpoint requests into one ledger chain by (priority, arrival)."""

    def __init__(self, ledger: Any, *, start: bool = True) -> None:
        self.ledger = ledger
        self._heap: list[tuple] = []
        self._arrival = itertools.count()
        self._ready = threading.Condition()
        self._closing = False
        self._thread: Optional[threading.Thread] = None
        if start:
            self.start()

    def submit(self, record_type: str, op: str, payload: Any = None, *, priority: int = 0,
               corridor: str = DEFAULT_CORRIDOR, agent: Optional[str] = None) -> Future:
        """Queue one record; the future resolves to the appended record."""
        entry = _entry(record_type, op, payload, corridor, agent)
        return self._put(priority, [entry], single=True)

    def submit_mixture(self, name: str, requests: list[dict], *, priority: int = 0) -> Future:
        """Queue a named group of requests (dicts of type, op, payload, corridor, agent) to append
        atomically, all or none; the future resolves to the list of records."""
        if not requests:
            raise LedgerError(f"mixture {name!r} has no requests")
        entries = [_entry(r.get("type"), r.get("op"), r.get("payload"), r.get("corridor", DEFAULT_CORRIDOR),
                          r.get("agent")) for r in requests]
        return self._put(priority, entries, single=False)

    def _put(self, priority: int, entries: list[dict], single: bool) -> Future:
        future: Future = Future()
        with self._ready:
            if self._closing:
                raise LedgerError("the checkpoint queue is closed")
            heapq.heappush(self._heap, (priority, next(self._arrival), entries, single, future))
            self._ready.notify()
        return future

    def start(self) -> None:
        """Start the writer thread (requests queued before this wait, in order)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._write_loop, name="pxos-checkpoints", daemon=True)
            self._thread.start()

    def _write_loop(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closing:
                    self._ready.wait()
                if not self._heap:
                    return
                _, _, entries, single, future = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if single:
                    e = entries[0]
                    future.set_result(self.ledger.append(e["type"], e["op"], e["payload"], corridor=e["corridor"],
                                                         agent=e["agent"]))
                else:
                    future.set_result(self.ledger.append_many(entries))
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def close(self, timeout: Optional[float] = None) -> None:
        """Write everything queued, then stop the writer thread."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        if self._thread is None:
            self.start()
        assert self._thread is not None  # start() made it
        self._thread.join(timeout)

    def __enter__(self) -> "CheckpointQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _entry(record_type: Any, op: Any, payload: Any, corridor: Any, agent: Optional[str]) -> dict:
    _check_entry(record_type, op, payload, corridor)
    return {"type": record_type, "op": op, "payload": {} if payload is None else payload,
            "corridor": corridor, "agent": agent}


class Checkpointer:
    """Emits checkpoints on an interval or on named events, never blocking the caller."""

    def __init__(self, queue: CheckpointQueue) -> None:
        self.queue = queue
        self._handlers: dict[str, list[Callable[[Any], Future]]] = {}
        self._stops: list[threading.Event] = []

    def every(self, seconds: float, record_type: str, op: str, state: Callable[[], Any], *,
              corridor: str = DEFAULT_CORRIDOR, priority: int = 5) -> threading.Event:
        """Checkpoint ``state()`` every ``seconds``; set the returned event to stop."""
        if seconds <= 0:
            raise LedgerError(f"checkpoint interval must be positive, not {seconds}")
        _check_entry(record_type, op, None, corridor)
        stop = threading.Event()
        self._stops.append(stop)

        def loop() -> None:
            while not stop.wait(seconds):
                self.queue.submit(record_type, op, state(), priority=priority, corridor=corridor)

        threading.Thread(target=loop, name=f"pxos-periodic-{op}", daemon=True).start()
        return stop

    def on(self, event: str, record_type: str, op: Optional[str] = None, *, corridor: str = DEFAULT_CORRIDOR,
           priority: int = 1, payload: Optional[Callable[[Any], Any]] = None) -> None:
        """On ``emit(event, data)``, checkpoint ``payload(data)`` (default ``{"event", "data"}``)."""
        _check_entry(record_type, op or event.lower(), None, corridor)
        make = payload or (lambda data: {"event": event, "data": data})
        self._handlers.setdefault(event, []).append(
            lambda data: self.queue.submit(record_type, op or event.lower(), make(data), priority=priority,
                                           corridor=corridor))

    def emit(self, event: str, data: Any = None) -> list[Future]:
        """Fire ``event``: queue its checkpoints and return their futures at once."""
        return [handler(data) for handler in self._handlers.get(event, [])]

    def stop(self) -> None:
        for stop in self._stops:
            stop.set()
