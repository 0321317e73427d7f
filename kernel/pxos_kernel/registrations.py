"""Typed registrations: what plugins hand to the kernel.

Each registration hook returns one of these immutable values (or an iterable
of them). The kernel gathers them into a :class:`~pxos_kernel.plugins.Registry`
per family, refuses two registrations of one name, and resolves them by name.
Factories are called lazily, so a plugin's heavy imports happen only when its
feature is used.

A registration's fields are its constructor's parameters, in order: each is a
read-only attribute of the same name, and ``__slots__`` lists them. They
compare, hash and print as frozen dataclasses would; they are plain classes
(:class:`~pxos_kernel.values.Value`) because defining a dataclass costs start-up
time on every command. The constructor's signature is what ``docs/hooks.md``
documents and what pxos-genesis's breaking-change judge compares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

from pxos_kernel.values import Value

if TYPE_CHECKING:
    import argparse

# Names are checked by character sets, not regular expressions: compiling a pattern costs a few tenths of a
# millisecond, and every command's start-up checked four of them.
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_ALNUM = _LOWER | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _LOWER | frozenset("0123456789_.-")
_WORD_CHARS = _LOWER | frozenset("0123456789-")
_KEY_CHARS = _LOWER | frozenset("0123456789_-")
_ID_CHARS = _ALNUM | frozenset("_.-")


def _spelled(value: Any, first: frozenset, rest: frozenset) -> bool:
    """Whether ``value`` is a string whose first character is in ``first`` and every character in ``rest``."""
    return isinstance(value, str) and value[:1] in first and set(value) <= rest


def _is_name(value: Any) -> bool:
    """``[a-z][a-z0-9_.-]*``: a storage scheme, an engine, a program ..."""
    return _spelled(value, _LOWER, _NAME_CHARS)


def _is_command(value: Any) -> bool:
    """Words of ``[a-z][a-z0-9-]*`` joined by single spaces: ``"ledger query"``."""
    return isinstance(value, str) and all(_spelled(word, _LOWER, _WORD_CHARS) for word in value.split(" "))


def _is_key(value: Any) -> bool:
    """Parts of ``[a-z][a-z0-9_-]*`` joined by dots: ``"storage.pixelfs.tile_size"``."""
    return isinstance(value, str) and all(_spelled(part, _LOWER, _KEY_CHARS) for part in value.split("."))


def lazy(path: str) -> Callable[..., Any]:
    """A stand-in for ``module:attr`` that imports it on first call and forwards the call.

    Registrations made with it keep a plugin's heavy modules unloaded until the
    feature is used::

        StorageBackend("pixelfs", lazy("pxos_pixelfs.pixelfs:create_storage"), "bytes as PNG images")
    """
    module, sep, attr = path.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"lazy target {path!r} is not of the form package.module:attribute")

    def call(*args: Any, **kwargs: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    call.__qualname__ = call.__name__ = f"lazy({path})"
    return call


def _check_name(kind: str, value: str, valid: Callable[[Any], bool] = _is_name) -> None:
    if not valid(value):
        raise ValueError(f"{kind} name {value!r} is invalid: use lowercase letters, digits, '-', '_' or '.'")


class StorageBackend(Value):
    """A storage backend reachable as ``SCHEME://KEY``.

    ``factory(settings)`` returns an object following
    :class:`pxos_kernel.interfaces.Storage`. ``settings`` always holds
    ``root`` (a directory the backend owns under ``PXOS_HOME``) plus the
    ``storage.SCHEME`` section of the user's config.
    """

    __slots__ = ("scheme", "factory", "summary")
    scheme: str
    factory: Callable[[Mapping[str, Any]], Any]
    summary: str

    def __init__(self, scheme: str, factory: Callable[[Mapping[str, Any]], Any], summary: str) -> None:
        self._fill(scheme, factory, summary)
        _check_name("storage scheme", self.scheme)

    @property
    def name(self) -> str:
        return self.scheme


class InferenceEngine(Value):
    """An inference engine; ``factory(settings)`` returns an :class:`~pxos_kernel.interfaces.Engine`."""

    __slots__ = ("name", "factory", "summary")
    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    summary: str

    def __init__(self, name: str, factory: Callable[[Mapping[str, Any]], Any], summary: str) -> None:
        self._fill(name, factory, summary)
        _check_name("inference engine", self.name)


class SinkSpec(Value):
    """A ledger sink; ``factory(settings)`` returns a :class:`~pxos_kernel.interfaces.Sink`.

    Sinks only persist records. The kernel builds, chains and verifies them.
    ``settings`` holds ``root`` (``PXOS_HOME/ledger``) plus the ``ledger``
    section of the user's config.
    """

    __slots__ = ("name", "factory", "summary")
    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    summary: str

    def __init__(self, name: str, factory: Callable[[Mapping[str, Any]], Any], summary: str) -> None:
        self._fill(name, factory, summary)
        _check_name("ledger sink", self.name)


class AgentSpec(Value):
    """An agent; ``factory(settings)`` returns an :class:`~pxos_kernel.interfaces.Agent`."""

    __slots__ = ("name", "factory", "summary", "needs_network")
    name: str
    factory: Callable[[Mapping[str, Any]], Any]
    summary: str
    needs_network: bool

    def __init__(self, name: str, factory: Callable[[Mapping[str, Any]], Any], summary: str,
                 needs_network: bool = False) -> None:
        self._fill(name, factory, summary, needs_network)
        _check_name("agent", self.name)


class Guardrail(Value):
    """A machine check of one rule.

    ``check(subject, context)`` returns a :class:`~pxos_kernel.interfaces.Verdict`.
    ``subject`` is what is being judged (a proposal, a cartridge name, or
    ``None`` for the current world); ``context`` is a mapping with at least
    ``kernel``. ``principle`` groups guardrails in reports (e.g. ``"G3"``).
    """

    __slots__ = ("id", "check", "summary", "principle")
    id: str
    check: Callable[[Any, Mapping[str, Any]], Any]
    summary: str
    principle: str

    def __init__(self, id: str, check: Callable[[Any, Mapping[str, Any]], Any], summary: str,
                 principle: str = "") -> None:
        self._fill(id, check, summary, principle)
        if not _spelled(self.id, _ALNUM, _ID_CHARS):
            raise ValueError(f"guardrail id {self.id!r} is invalid")

    @property
    def name(self) -> str:
        return self.id


class BootEmitter(Value):
    """Builds bootable images for one target.

    ``emit(request)`` takes a :class:`~pxos_kernel.interfaces.BootRequest` and
    returns a :class:`~pxos_kernel.interfaces.BootImage`. ``run(path, options)``,
    when given, starts an image (in an emulator) and returns an exit code.
    Options: ``headless`` (bool: no display, the emulator's console on stdio)
    and ``output`` (a binary file: the console's output goes there instead of
    standard output, as ``boot run --json`` asks).
    """

    __slots__ = ("target", "emit", "summary", "run")
    target: str
    emit: Callable[[Any], Any]
    summary: str
    run: Optional[Callable[[Any, Mapping[str, Any]], int]]

    def __init__(self, target: str, emit: Callable[[Any], Any], summary: str,
                 run: Optional[Callable[[Any, Mapping[str, Any]], int]] = None) -> None:
        self._fill(target, emit, summary, run)
        _check_name("boot target", self.target)

    @property
    def name(self) -> str:
        return self.target


class Program(Value):
    """A program the hypervisor can run by name.

    ``entry`` is ``"package.module:function"`` (preferred: a sandboxed child
    re-imports it by that path) or a callable. The function is called as
    ``function(*leading_args, *user_args)``; an ``int`` result is the exit code.
    ``sandbox=True`` means the program may only run sandboxed.
    """

    __slots__ = ("name", "entry", "summary", "leading_args", "sandbox", "origin")
    name: str
    entry: Union[str, Callable[..., Any]]
    summary: str
    leading_args: tuple[str, ...]
    sandbox: bool
    origin: str

    def __init__(self, name: str, entry: Union[str, Callable[..., Any]], summary: str,
                 leading_args: tuple[str, ...] = (), sandbox: bool = False, origin: str = "") -> None:
        self._fill(name, entry, summary, leading_args, sandbox, origin)
        _check_name("program", self.name)

    @property
    def entry_path(self) -> str:
        """The ``module:qualname`` path of the entry point."""
        if isinstance(self.entry, str):
            return self.entry
        return f"{self.entry.__module__}:{self.entry.__qualname__}"


class Subcommand(Value):
    """A command of ``pxos-kernel``.

    ``name`` may have several words to nest: ``"ledger query"`` adds ``query``
    under ``ledger``. ``configure_parser(parser)`` adds arguments;
    ``action(args)`` runs the command and returns an exit code (``None`` = 0).
    The kernel passes itself as ``args.kernel``.
    """

    __slots__ = ("name", "summary", "action", "configure_parser", "description")
    _uncompared = ("description",)
    name: str
    summary: str
    action: Callable[["argparse.Namespace"], Optional[int]]
    configure_parser: Optional[Callable[["argparse.ArgumentParser"], None]]
    description: str

    def __init__(self, name: str, summary: str, action: Callable[["argparse.Namespace"], Optional[int]],
                 configure_parser: Optional[Callable[["argparse.ArgumentParser"], None]] = None,
                 description: str = "") -> None:
        self._fill(name, summary, action, configure_parser, description)
        _check_name("subcommand", self.name, _is_command)


#: The types a setting may have: what YAML writes as scalars, lists and mappings.
SETTING_TYPES = (str, int, float, bool, list, dict)
_Type = type  # inside Setting, ``type`` is the field
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
               dict: "a mapping"}


class Setting(Value):
    """One key of ``config.yaml`` that a plugin reads: its path, type, default and what it does.

    ``key`` is the dotted path from the top of the file: ``"genesis.cartridge"``,
    or ``"storage.pixelfs.tile_size"`` for a setting of one registration (the
    family's settings section, then the registration's name). ``type`` is one
    of ``str``, ``int``, ``float`` (which takes integers too), ``bool``,
    ``list`` and ``dict``, or a tuple of them. A ``dict`` setting under which no
    other setting is declared is a leaf whose content its plugin checks; one with
    settings below it is a section, and a key in it that nobody declared is warned
    about, with a "did you mean". ``default`` (``None``: unset) is what the kernel
    hands the plugin when the file does not set the key; ``choices``, when given,
    are the only values accepted::

        Setting("genesis.max_in_flight", int, 2, "evolution builds that may run at once")
        Setting("ledger.durability", str, None, "when an append reaches the disk", choices=("flush", "fsync"))
    """

    __slots__ = ("key", "type", "default", "summary", "choices")
    key: str
    type: Union[type, tuple[type, ...]]
    default: Any
    summary: str
    choices: tuple[Any, ...]

    def __init__(self, key: str, type: Union[_Type, tuple[_Type, ...]], default: Any = None, summary: str = "",
                 choices: tuple[Any, ...] = ()) -> None:
        self._fill(key, type, default, summary, choices)
        if not _is_key(self.key):
            raise ValueError(f"setting key {self.key!r} is invalid: use dotted lowercase names, e.g. 'my-plugin.size'")
        types = self.types
        if not types or not all(t in SETTING_TYPES for t in types):
            raise ValueError(f"setting {self.key}: type must be one of str, int, float, bool, list, dict "
                       f"(or a tuple of them), not {self.type!r}")
        for value in (*self.choices, *(() if self.default is None else (self.default,))):
            if not self.accepts(value):
                raise ValueError(f"setting {self.key}: {value!r} is not {self.type_name}")
        if self.choices and self.default is not None and self.default not in self.choices:
            raise ValueError(f"setting {self.key}: default {self.default!r} is not one of its choices")

    @property
    def name(self) -> str:
        return self.key

    @property
    def types(self) -> tuple[_Type, ...]:
        return self.type if isinstance(self.type, tuple) else (self.type,)

    @property
    def type_name(self) -> str:
        """How messages name the type: ``"an integer"``, ``"a string or a list"``."""
        return " or ".join(_TYPE_NAMES[t] for t in self.types)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` has this setting's type (a bool is no number; an int is a float)."""
        if isinstance(value, bool):
            return bool in self.types
        return any(isinstance(value, kind) or kind is float and isinstance(value, int) for kind in self.types)


class Family(Value):
    """One kind of thing plugins register, and every name it goes by.

    ``name`` is the one name of the family everywhere a user types it: the
    registry (``kernel.registry("sink")``), the ``defaults:`` mapping of
    ``config.yaml`` and of the world manifest, listings and messages.
    """

    __slots__ = ("name", "hook", "registration", "noun", "interface", "settings", "has_default", "kernel_default")
    name: str
    hook: str                      # the registration hook plugins implement
    registration: type             # what that hook returns
    noun: str                      # how messages call one registration
    interface: str                 # the pxos_kernel Protocol its factory builds ("" if none)
    settings: str                  # the config section holding per-name settings ("" if none)
    has_default: bool              # whether ``defaults: {NAME: ...}`` chooses one
    kernel_default: str            # the kernel's own registration, used when neither config nor world chooses

    def __init__(self, name: str, hook: str, registration: type, noun: str, interface: str = "", settings: str = "",
                 has_default: bool = False, kernel_default: str = "") -> None:
        self._fill(name, hook, registration, noun, interface, settings, has_default, kernel_default)


#: Every family, by name. The kernel's registries, config and world manifest are built from this.
FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("storage", "pxos_storage_backends", StorageBackend, "storage backend", "Storage", "storage", True),
    Family("inference", "pxos_inference_engines", InferenceEngine, "inference engine", "Engine", "inference", True),
    # The one sink in use reads the whole ``ledger`` section, so it has no section per name.
    Family("sink", "pxos_sinks", SinkSpec, "ledger sink", "Sink", "", True, kernel_default="jsonl"),
    Family("agent", "pxos_agents", AgentSpec, "agent", "Agent", "agents", True),
    Family("guardrail", "pxos_guardrails", Guardrail, "guardrail"),
    Family("boot", "pxos_boot_emitters", BootEmitter, "boot target", has_default=True),
    Family("program", "pxos_programs", Program, "program"),
    Family("subcommand", "pxos_subcommands", Subcommand, "command"),
    Family("setting", "pxos_settings", Setting, "setting"),
)}

#: The types a registration hook may return.
REGISTRATION_TYPES: tuple[type, ...] = tuple(family.registration for family in FAMILIES.values())
