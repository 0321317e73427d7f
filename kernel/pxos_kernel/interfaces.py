"""What the objects made by registration factories must do, and the values they exchange.

These are :class:`typing.Protocol` classes: a plugin does not inherit from
them, it just provides the methods. The conformance suites in
:mod:`pxos_kernel.testing` check an implementation against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Iterator, Literal, Mapping, Optional, Protocol, Union, runtime_checkable


# -- storage -------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectInfo:
    """What a storage backend knows about one stored object."""

    key: str
    size: int
    sha256: str
    kind: str = "blob"
    content_type: Optional[str] = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Storage(Protocol):
    """A key -> bytes store. Keys are ``/``-separated relative paths."""

    def put(self, key: str, data: Union[bytes, BinaryIO], *, content_type: Optional[str] = None) -> ObjectInfo:
        """Store ``data`` (bytes or a binary file read to its end) atomically under ``key``."""

    def get(self, key: str, offset: int = 0, length: Optional[int] = None) -> bytes:
        """Return ``length`` bytes from ``offset`` (all remaining if ``None``); raise NotFoundError."""

    def copy_to(self, key: str, out: BinaryIO) -> ObjectInfo:
        """Stream the whole object into ``out`` in bounded memory, verifying it."""

    def info(self, key: str) -> ObjectInfo:
        """Describe ``key``; raise NotFoundError when absent."""

    def ls(self, prefix: str = "") -> list[ObjectInfo]:
        """List objects whose key starts with ``prefix``, sorted by key."""

    def verify(self, key: str) -> ObjectInfo:
        """Re-read ``key`` and check its checksum; raise IntegrityError on mismatch."""

    def exists(self, key: str) -> bool:
        """Whether ``key`` is stored."""

    def close(self) -> None:
        """Release resources; flush what is buffered."""


# -- checkpoint sinks ---------------------------------------------------------------


@runtime_checkable
class Sink(Protocol):
    """Persists ledger records. The kernel chains them; a sink never alters one.

    ``location`` (an attribute, ``str``): where the records are kept, as
    ``ledger verify`` and ``inspect`` print it: a file path, or a database and
    table with any credentials redacted (:func:`pxos_kernel.redact_url`).
    Without it they print the class name, which tells a user nothing.

    Optional methods the kernel uses where a sink has them (every built-in sink does):

    * ``read_rows(start_seq)`` yields ``(where, stored text)``: verify then checks the
      stored bytes themselves (each must be the canonical JSON of what it parses to),
      not only the records they parse to.
    * ``read_newest_first()`` yields records from the last to the first, so that
      ``log -n N`` costs N reads, not the whole ledger.
    * ``append_built(build)`` appends ``build(head)`` while holding the head
      (``head`` is ``{"seq", "hash"}`` or None), so concurrent writers wait instead
      of losing compare-and-append races; ``build_under_lock = True`` asks the kernel
      to use it for every append.
    """

    location: str  # a human-readable place, e.g. a path or a DSN without password

    def head(self) -> Optional[dict]:
        """The record with the highest ``seq``, or ``None`` for an empty ledger."""

    def compare_and_append(self, record: dict) -> bool:
        """Append ``record`` iff the current head has ``seq == record['seq'] - 1`` and
        ``hash == record['prev']`` (or the ledger is empty and ``record['seq'] == 1``).

        Return ``False`` when the head moved (another writer won); the kernel then
        rebuilds the record on the new head and tries again. When this returns
        ``True`` the record is durable to the sink's documented level.
        """

    def read(self, start_seq: int = 1) -> Iterator[dict]:
        """Yield records in storage order from ``start_seq``.

        Raise :class:`~pxos_kernel.errors.LedgerCorruptError` naming the exact
        place (line, offset, row) of anything that cannot be parsed.
        """

    def close(self) -> None:
        """Flush and release."""


# -- inference ------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationRequest:
    """One text-generation request; the engine documents how it treats each knob."""

    prompt: str
    model: Optional[str] = None
    max_tokens: int = 128
    temperature: float = 1.0
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    seed: Optional[int] = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationChunk:
    """A piece of streamed output; the last chunk has ``finish_reason`` set."""

    text: str
    tokens: int = 0
    finish_reason: Optional[Literal["stop", "length"]] = None


@runtime_checkable
class Engine(Protocol):
    """Generates text from models it can load.

    An engine may also have ``describe() -> dict``, its own report of where it
    computes (pixellm-gpu: the adapter, its limits); ``inspect --engines`` shows it,
    and its optional ``summary`` (a list of lines) is what a terminal prints.
    """

    def models(self) -> list[str]:
        """Model ids this engine can serve right now."""

    def generate(self, request: GenerationRequest) -> Iterator[GenerationChunk]:
        """Stream the completion of ``request.prompt``."""

    def close(self) -> None:
        """Release models."""


# -- agents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """Work for an agent."""

    goal: str
    context: str = ""
    files: Mapping[str, str] = field(default_factory=dict)
    test_command: tuple[str, ...] = ()
    id: Optional[str] = None


@dataclass(frozen=True)
class Proposal:
    """An agent's answer: text and/or a unified-diff patch, with its reasoning."""

    agent: str
    model: str
    text: str
    reasoning: str = ""
    patch: Optional[str] = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Review:
    """A reviewer's judgement of a proposal: score in [0, 1] and feedback."""

    score: float
    feedback: str
    reviewer: str = ""


@dataclass(frozen=True)
class Readiness:
    """Whether an agent can act now, and if not why."""

    ok: bool
    reason: str = ""


@runtime_checkable
class Agent(Protocol):
    """Turns tasks into proposals. Never returns a made-up answer: it raises AgentError."""

    def ready(self) -> Readiness:
        """Check, cheaply, whether ``propose`` can work now."""

    def propose(self, task: Task) -> Proposal:
        """Produce a proposal for ``task``."""


# -- guardrails -----------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """One way a subject breaks a rule."""

    guardrail: str
    message: str
    location: Optional[str] = None


@dataclass(frozen=True)
class Verdict:
    """A guardrail's answer: ``passed``, ``failed`` or ``unchecked``, with evidence.

    ``evidence`` says what was checked and what was found. ``unchecked`` means
    the guardrail could not judge this subject (it never means "passed").
    """

    status: Literal["passed", "failed", "unchecked"]
    evidence: str
    violations: tuple[Violation, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in ("passed", "failed", "unchecked"):
            raise ValueError(f"verdict status {self.status!r} is not passed, failed or unchecked")
        if self.status == "failed" and not self.violations:
            raise ValueError("a failed verdict needs at least one violation")


# -- boot ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootRequest:
    """What to build: ``source`` (a path, or ``None`` for the emitter's default) and options."""

    source: Optional[str] = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BootImage:
    """A built image and how it was made."""

    target: str
    data: bytes
    kind: str = "boot-sector"
    listing: Optional[str] = None
