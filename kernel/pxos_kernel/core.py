"""The kernel object: state directory, config, world, plugins, registries and ledger.

One :class:`Kernel` serves one process (the CLI makes one; tests make their
own with a temporary ``PXOS_HOME``). Everything it owns is built lazily, so
``pxos-kernel plugins`` does not open the ledger and ``--help`` does not
read the world manifest.
"""

from __future__ import annotations

import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from pxos_kernel.config import World, home_dir, load_config, load_world
from pxos_kernel.errors import ConfigError, NotFoundError
from pxos_kernel.plugins import Plugins, Registry

if TYPE_CHECKING:
    from pxos_kernel.ledger import Ledger


class Kernel:
    """The pxOS microkernel of this process."""

    def __init__(self, home: Optional[os.PathLike | str] = None, env: Optional[Mapping[str, str]] = None,
                 *, load_plugins: bool = True) -> None:
        self.env = dict(os.environ if env is None else env)
        self.home = Path(home) if home is not None else home_dir(self.env)
        from pxos_kernel import builtin

        self.plugins = Plugins(self.env, builtin=builtin)
        if load_plugins:
            self.plugins.load_entry_points()
        self._instances: dict[tuple[str, str], Any] = {}
        self._closed = False
        self.hook.pxos_addhooks.call_historic(kwargs={"pluginmanager": self.plugins.pm})
        self.plugins.check_hooks()
        self.hook.pxos_kernel_booted(kernel=self)

    # -- configuration -----------------------------------------------------------------

    @cached_property
    def config(self) -> dict:
        """``PXOS_HOME/config.yaml``, validated against the sections every plugin declares."""
        from pxos_kernel.config import check_sections

        data = load_config(self.home)
        if data:
            for warning in check_sections(data, self.registry("config"), self.home / "config.yaml"):
                print(f"pxos-kernel: warning: {warning}", file=sys.stderr)
        return data

    @cached_property
    def world(self) -> World:
        return load_world(self.home, self.env)

    def section(self, name: str) -> dict:
        """One config section (an empty mapping when absent)."""
        return dict(self.config.get(name) or {})

    def state_dir(self, *parts: str) -> Path:
        """A directory under ``PXOS_HOME`` for a feature's state, created on demand."""
        path = self.home.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- plugins and registries ------------------------------------------------------

    @property
    def hook(self) -> Any:
        return self.plugins.hook

    def registry(self, family: str) -> Registry:
        return self.plugins.registry(family)

    def default_name(self, family: str) -> str:
        """The name to use when a command names none: config ``defaults.FAMILY``, else the world's."""
        from pxos_kernel.registrations import FAMILIES

        name = (self.section("defaults").get(family) or self.world.defaults.get(family)
                or FAMILIES[family].kernel_default)
        if not name:
            raise NotFoundError(f"no default {family} is configured (set defaults.{family} in "
                                f"{self.home / 'config.yaml'})")
        return name

    def settings(self, family: str, name: str) -> dict:
        """The config settings of one registration: ``SECTION.NAME`` of its family's settings section."""
        from pxos_kernel.registrations import FAMILIES

        section = self.section(FAMILIES[family].settings)
        value = section.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"config file {self.home / 'config.yaml'}: {FAMILIES[family].settings}.{name} "
                              f"must be a mapping of settings, not {type(value).__name__}")
        return value

    def _instance(self, family: str, name: str, settings: dict) -> Any:
        key = (family, name)
        if key not in self._instances:
            self._instances[key] = self.build(family, name, settings)
        return self._instances[key]

    def build(self, family: str, name: str, settings: Mapping[str, Any]) -> Any:
        """Call ``name``'s factory, checking what comes back at the plugin boundary.

        A factory that raises something other than a :class:`PxosError`, or
        returns an object lacking members of the family's interface, is a
        :class:`PluginError` naming the plugin and what is missing.
        """
        from pxos_kernel import interfaces
        from pxos_kernel.errors import PluginError, PxosError
        from pxos_kernel.registrations import FAMILIES

        kind = FAMILIES[family]
        registry = self.registry(family)
        registration = registry.get(name)
        who = f"{kind.noun} {name!r} of {self.plugins.describe(registry.owner(name))}"
        try:
            instance = registration.factory(settings)
        except PxosError:
            raise  # already one clear line about the user's situation (a missing DSN, a bad setting ...)
        except Exception as exc:
            raise PluginError(f"{who}: its factory raised {type(exc).__name__}: {exc}") from exc
        if kind.interface:
            protocol = getattr(interfaces, kind.interface)
            members = [m for m, v in vars(protocol).items() if callable(v) and not m.startswith("_")]
            missing = [m for m in members if not callable(getattr(instance, m, None))]
            if missing:
                raise PluginError(f"{who}: its factory returned {type(instance).__name__}, which is not a "
                                  f"{kind.interface} (missing: {', '.join(missing)})")
        return instance

    def storage(self, scheme: str) -> Any:
        """The storage backend for ``scheme://`` URIs (built once per kernel)."""
        settings = {"root": str(self.state_dir("storage", scheme)), **self.settings("storage", scheme)}
        return self._instance("storage", scheme, settings)

    def engine(self, name: Optional[str] = None, **overrides: Any) -> Any:
        """An inference engine (the world's default when ``name`` is None).

        ``overrides`` replace config settings for this one instance (a command
        line flag such as ``--offload``); it is built afresh and closed with the
        kernel, while the plain ``engine(name)`` is built once and shared.
        """
        name = name or self.default_name("inference")
        settings = {"root": str(self.state_dir("inference", name)), **self.settings("inference", name)}
        if overrides:
            key = ("inference", f"{name} {sorted(overrides.items())!r}")
            if key not in self._instances:
                self._instances[key] = self.build("inference", name, {**settings, **overrides})
            return self._instances[key]
        return self._instance("inference", name, settings)

    def agent(self, name: Optional[str] = None) -> Any:
        """An agent (the world's default when ``name`` is None)."""
        name = name or self.default_name("agent")
        settings = {"root": str(self.state_dir("agents", name)), "kernel": self, **self.settings("agent", name)}
        return self._instance("agent", name, settings)

    # -- the ledger ---------------------------------------------------------------------

    @cached_property
    def ledger(self) -> "Ledger":
        """The ledger, on the sink named by ``defaults.sink`` (config, else the world; ``jsonl`` if neither)."""
        from pxos_kernel.ledger import Ledger

        settings = self.section("ledger")
        sink = self.build("sink", self.default_name("sink"), {"root": str(self.state_dir("ledger")), **settings})
        return Ledger(sink, key=self._ledger_key(settings))

    def _ledger_key(self, settings: dict) -> Optional[bytes]:
        path = settings.get("hmac_key_file") or self.env.get("PXOS_LEDGER_KEY_FILE")
        if not path:
            return None
        try:
            key = Path(path).expanduser().read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"ledger HMAC key file {path}: cannot read it ({exc.strerror})") from None
        if len(key) < 16:
            raise ConfigError(f"ledger HMAC key file {path}: key is shorter than 16 bytes")
        return key

    def checkpoint(self, record_type: str, op: str, payload: Any = None, **kw: Any) -> dict:
        """Append one record to the ledger (see :meth:`pxos_kernel.ledger.Ledger.append`)."""
        return self.ledger.append(record_type, op, payload, **kw)

    # -- the hypervisor ----------------------------------------------------------------

    @cached_property
    def hypervisor(self) -> Any:
        from pxos_kernel.hypervisor import Hypervisor

        return Hypervisor(self)

    def close(self) -> None:
        """Fire ``pxos_kernel_shutdown`` and release every backend."""
        if self._closed:
            return
        self._closed = True
        self.hook.pxos_kernel_shutdown(kernel=self)
        for instance in self._instances.values():
            close = getattr(instance, "close", None)
            if close:
                close()
        if "ledger" in self.__dict__:
            self.ledger.close()

    def __enter__(self) -> "Kernel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
