"""Finding, loading and vetting plugins, and collecting their registrations.

Plugins are modules announced by entry points in group ``pxos``. Each is
loaded on its own: one that fails to import, or whose registration hook
raises or returns the wrong type, is skipped with a one-line warning naming
it, unless ``PXOS_STRICT_PLUGINS=1``. ``PXOS_PLUGINS=a,b`` loads only those
(by entry-point or distribution name); ``PXOS_DISABLE_PLUGINS=a,b`` blocks some.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Any, Generic, Iterator, Mapping, Optional, TypeVar

import pluggy

from pxos_kernel import hookspecs
from pxos_kernel.entrypoints import PluginEntryPoint, find_entry_points
from pxos_kernel.errors import ConflictError, NotFoundError, PluginError, did_you_mean
from pxos_kernel.registrations import FAMILIES, REGISTRATION_TYPES
from pxos_kernel.values import Value

GROUP = "pxos"
KERNEL_PLUGIN = "kernel"
# A pattern string, compiled by re on first use: only when PXOS_PLUGINS or PXOS_DISABLE_PLUGINS is set.
_LIST = r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(,\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*)*,?\s*$"
_SEPARATORS = str.maketrans("_.", "--")
T = TypeVar("T")


class PluginInfo:
    """What ``pxos-kernel plugins`` shows about one plugin (filled in while it loads and registers)."""

    __slots__ = ("name", "distribution", "version", "module", "hooks", "registered", "errors", "loaded")

    def __init__(self, name: str, distribution: str, version: str, module: str) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self.module = module
        self.hooks: list[str] = []
        self.registered: dict[str, list[str]] = {}
        self.errors: list[str] = []
        self.loaded = False

    def as_dict(self) -> dict:
        return {
            "name": self.name, "distribution": self.distribution, "version": self.version,
            "module": self.module, "loaded": self.loaded, "hooks": self.hooks,
            "registered": self.registered, "errors": self.errors,
        }


class Entry(Value, Generic[T]):
    """One registration and the plugin that made it."""

    __slots__ = ("value", "plugin")
    value: T
    plugin: str

    def __init__(self, value: T, plugin: str) -> None:
        self._fill(value, plugin)


class Registry(Generic[T]):
    """The registrations of one family, by name.

    A name two plugins registered is in ``conflicts``: using it raises the
    :class:`ConflictError` naming both, while the rest of the family works.
    """

    def __init__(self, family: str, entries: Mapping[str, Entry[T]],
                 conflicts: Optional[Mapping[str, ConflictError]] = None) -> None:
        self.family = family
        self._entries = dict(sorted(entries.items()))
        self.conflicts = dict(conflicts or {})

    def get(self, name: str) -> T:
        if name in self.conflicts:
            raise self.conflicts[name]
        try:
            return self._entries[name].value
        except KeyError:
            known = ", ".join(self._entries) or "none installed"
            raise NotFoundError(f"no {self.family} named {name!r}{did_you_mean(name, self._entries)} "
                                f"(available: {known})") from None

    def owner(self, name: str) -> str:
        return self._entries[name].plugin

    def names(self) -> list[str]:
        return list(self._entries)

    def values(self) -> list[T]:
        return [e.value for e in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _normal(name: str) -> str:
    """A plugin or distribution name as compared: case and ``-_.`` runs ignored (PEP 503)."""
    name = name.translate(_SEPARATORS)  # as re.sub(r"[-_.]+", "-", name), without compiling it at start-up
    while "--" in name:
        name = name.replace("--", "-")
    return name.lower()


def parse_name_list(variable: str, value: Optional[str]) -> Optional[set[str]]:
    """Parse ``a,b,c`` from an environment variable; PluginError on anything else."""
    if value is None or value.strip() == "":
        return None
    if not re.match(_LIST, value):
        raise PluginError(
            f"{variable}={value!r} is malformed: give comma-separated plugin names, e.g. {variable}=pxos-pixelfs,pxos-ledger"
        )
    return {_normal(part.strip()) for part in value.split(",") if part.strip()}


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager, finding a module's hook specifications and implementations in its namespace.

    pluggy looks each of a module's names up with :func:`inspect.getattr_static`,
    which walks the type's MRO once per name: over every name a plugin module
    imported, and every hook of ``hookspecs``, that was about a fifth of
    making the kernel. A module's attributes are its ``__dict__``, so a plain
    function found there is what ``getattr_static`` returns; anything else that
    could be a hook (a ``staticmethod``, a bound method) still goes through pluggy.
    """

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        known, options = _module_function_marker(plugin, name, self.project_name + "_impl")
        return options if known else super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        known, options = _module_function_marker(module_or_class, name, self.project_name + "_spec")
        return options if known else super().parse_hookspec_opts(module_or_class, name)


def _module_function_marker(namespace: Any, name: str, marker: str) -> tuple[bool, Optional[dict]]:
    """``(True, the marker's options or None)`` for a module's function or non-callable;
    ``(False, None)`` where pluggy must look (not a module, or a method-like object)."""
    if not isinstance(namespace, types.ModuleType):
        return False, None
    value = namespace.__dict__.get(name)
    if isinstance(value, types.FunctionType):
        options = getattr(value, marker, None)
        return True, options if isinstance(options, dict) else None
    if isinstance(value, (staticmethod, classmethod, types.MethodType)):
        return False, None
    return True, None


class Plugins:
    """The plugin manager of one kernel: loading, info and registries."""

    def __init__(self, env: Mapping[str, str], *, builtin: Any = None) -> None:
        self.pm = _PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = env.get("PXOS_STRICT_PLUGINS", "") not in ("", "0", "false", "no")
        self.only = parse_name_list("PXOS_PLUGINS", env.get("PXOS_PLUGINS"))
        self.disabled = parse_name_list("PXOS_DISABLE_PLUGINS", env.get("PXOS_DISABLE_PLUGINS")) or set()
        self.info: dict[str, PluginInfo] = {}
        self.warnings: list[str] = []
        self._registries: dict[str, Registry] = {}
        if builtin is not None:
            from pxos_kernel import __version__

            self._add(PluginInfo(KERNEL_PLUGIN, "pxos-kernel", __version__, builtin.__name__), builtin)

    # -- loading ---------------------------------------------------------------------

    def load_entry_points(self, eps: Optional[list[PluginEntryPoint]] = None) -> None:
        """Load every selected entry point of group ``pxos``, skipping broken ones."""
        eps = find_entry_points(GROUP) if eps is None else eps
        self._check_selection(eps)
        for ep in eps:
            dist, version = ep.distribution, ep.version
            info = PluginInfo(ep.name, dist, version, ep.value)
            if not self._selected(ep.name, dist):
                info.errors.append("not loaded: deselected by PXOS_PLUGINS / PXOS_DISABLE_PLUGINS")
                self.info[ep.name] = info
                continue
            if ep.name in self.info:
                self._fail(info, f"a plugin named {ep.name!r} is already loaded from {self.info[ep.name].distribution}")
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the CLI down
                self._fail(info, f"failed to import {ep.value}: {type(exc).__name__}: {exc}")
                continue
            self._add(info, module)

    def register(self, module: Any, name: str, distribution: str = "?", version: str = "?") -> None:
        """Register a plugin object directly (tests, embedding)."""
        self._add(PluginInfo(name, distribution, version, getattr(module, "__name__", repr(module))), module)

    def _selected(self, name: str, dist: str) -> bool:
        if self.only is None and not self.disabled:
            return True
        names = {_normal(name), _normal(dist)}
        if names & self.disabled:
            return False
        return self.only is None or bool(names & self.only)

    def _check_selection(self, eps: list[PluginEntryPoint]) -> None:
        """A name in PXOS_PLUGINS / PXOS_DISABLE_PLUGINS that matches no installed plugin is one warning."""
        if self.only is None and not self.disabled:
            return
        installed = sorted({n for ep in eps for n in (ep.name, ep.distribution)} | {KERNEL_PLUGIN, "pxos-kernel"})
        known = {_normal(n) for n in installed}
        for variable, names in (("PXOS_PLUGINS", self.only or set()), ("PXOS_DISABLE_PLUGINS", self.disabled)):
            for name in sorted(names - known):
                self._warn(f"{variable} names {name!r}, which is not an installed plugin or distribution"
                           f"{did_you_mean(name, installed)}")

    def _add(self, info: PluginInfo, module: Any) -> None:
        try:
            self.pm.register(module, name=info.name)
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(info.name) is not None:  # pluggy keeps the hooks it took before the bad one
                self.pm.unregister(name=info.name)
            self._fail(info, _validation_problem(exc))
            return
        except Exception as exc:
            self._fail(info, f"cannot register: {exc}")
            return
        info.loaded = True
        info.hooks = sorted(
            hook.name for hook in self.pm.get_hookcallers(module) or [] if not hook.name.startswith("_")
        )
        self.info[info.name] = info
        self._registries.clear()

    def _fail(self, info: PluginInfo, problem: str) -> None:
        info.errors.append(problem)
        self.info[info.name] = info
        self._warn(f"plugin {info.name!r} ({info.distribution} {info.version}) skipped: {problem}")

    def _warn(self, message: str) -> None:
        """One warning line, or with PXOS_STRICT_PLUGINS=1 a PluginError."""
        if self.strict:
            raise PluginError(message + " [PXOS_STRICT_PLUGINS is set]")
        self.warnings.append(message)
        print(f"pxos-kernel: warning: {message}", file=sys.stderr)

    def check_hooks(self) -> None:
        """Warn about hook implementations no specification knows (a misspelled hook registers nothing).

        Called once every plugin is loaded and ``pxos_addhooks`` has added the
        plugins' own specifications; ``@hookimpl(optionalhook=True)`` is exempt.
        """
        specified = [name for name in dir(self.pm.hook) if name.startswith("pxos_")
                     and getattr(self.pm.hook, name).spec is not None]
        for name in dir(self.pm.hook):
            caller = getattr(self.pm.hook, name)
            if name.startswith("_") or not hasattr(caller, "get_hookimpls") or caller.spec is not None:
                continue
            for impl in caller.get_hookimpls():
                if impl.optionalhook:
                    continue
                info = self.info.get(impl.plugin_name)
                who = f"plugin {impl.plugin_name!r}" + (f" ({info.distribution} {info.version})" if info else "")
                problem = f"{name} is not a pxos hook{did_you_mean(name, specified)}, so it registers nothing"
                if info is not None:
                    info.errors.append(problem)
                self._warn(f"{who}: {problem}")

    def describe(self, plugin: str) -> str:
        """``plugin 'NAME' (DISTRIBUTION)`` for messages."""
        return self._describe(plugin)

    # -- registries -------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def registry(self, family: str) -> Registry:
        """All registrations of ``family`` (see :data:`~pxos_kernel.registrations.FAMILIES`)."""
        if family not in self._registries:
            self._registries[family] = self._collect(family)
        return self._registries[family]

    def _collect(self, family: str) -> Registry:
        kind = FAMILIES[family].registration
        hook = FAMILIES[family].hook
        caller = getattr(self.pm.hook, hook)
        entries: dict[str, Entry] = {}
        conflicts: dict[str, ConflictError] = {}
        for known in self.info.values():
            known.registered.pop(family, None)
        for impl in caller.get_hookimpls():  # in registration order
            info = self.info.get(impl.plugin_name)
            try:
                answer = impl.function()
                values: list[Any] = [] if answer is None else [answer] if isinstance(answer, REGISTRATION_TYPES) else list(answer)
                for value in values:
                    if not isinstance(value, kind):
                        raise TypeError(f"returned {type(value).__name__}, not {kind.__name__}")
            except Exception as exc:
                if info is not None:
                    self._fail(info, f"{hook} raised {type(exc).__name__}: {exc}")
                continue
            for value in values:
                name = value.name
                if name in entries or name in conflicts:
                    first = self._describe(entries[name].plugin if name in entries else conflicts[name].first)
                    second = self._describe(impl.plugin_name)
                    error = ConflictError(
                        f"{family} {name!r} is registered by both {first} and {second}; "
                        f"uninstall one or set PXOS_DISABLE_PLUGINS={impl.plugin_name}",
                        entries[name].plugin if name in entries else conflicts[name].first)
                    conflicts[name] = error
                    entries.pop(name, None)
                    for plugin in (error.first, impl.plugin_name):
                        if plugin in self.info:
                            self.info[plugin].errors.append(str(error))
                    self._warn(str(error))
                    continue
                entries[name] = Entry(value, impl.plugin_name)
                if info is not None:
                    info.registered.setdefault(family, []).append(name)
        return Registry(family, entries, conflicts)

    def _describe(self, plugin: str) -> str:
        info = self.info.get(plugin)
        return f"plugin {plugin!r} ({info.distribution})" if info else f"plugin {plugin!r}"

    def collect_all(self) -> list[str]:
        """Build every registry; the conflict messages of every family."""
        return [str(error) for family in FAMILIES for error in self.registry(family).conflicts.values()]


def _validation_problem(exc: pluggy.PluginValidationError) -> str:
    """pluggy's three-line validation message as one line: the hook and what is wrong."""
    text = str(exc)
    hook = re.search(r"for hook '(\w+)'", text)
    arguments = re.search(r"Argument\(s\) (\{.*?\})", text)
    where = f"hook {hook.group(1)}" if hook else "a hook implementation"
    if arguments:
        return f"{where} takes argument(s) {arguments.group(1)} that the hook does not pass"
    return f"{where} is invalid: {' '.join(text.split())}"
