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
        """``PXOS_HOME/config.yaml``, checked against the settings every plugin declares.

        A value of the wrong type is a :class:`ConfigError` naming its key path;
        an unknown key is a warning with a "did you mean" (``config validate``
        lists them all).
        """
        data = load_config(self.home)
        if data:
            for problem in self.config_problems(data):
                if problem.error:
                    raise ConfigError(problem.line(self.home / "config.yaml"))
                print(f"pxos-kernel: warning: {problem.line(self.home / 'config.yaml')}", file=sys.stderr)
        return data

    def config_problems(self, data: Mapping[str, Any]) -> list:
        """Each :class:`~pxos_kernel.config.ConfigProblem` of ``data`` against this kernel's plugins' settings."""
        from pxos_kernel.config import check_config
        from pxos_kernel.registrations import FAMILIES

        families = {f.settings: (f.noun, self.registry(f.name).names()) for f in FAMILIES.values() if f.settings}
        return check_config(data, self.registry("setting").values(), families)

    def setting(self, key: str) -> Any:
        """The value of one setting: ``config.yaml``'s, else the default its plugin declares (``None``: unset)."""
        value: Any = self.config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None and key in self.registry("setting"):
            return self.registry("setting").get(key).default
        return value

    def _with_defaults(self, prefix: str, values: Mapping[str, Any]) -> dict:
        """``values`` over the declared defaults of the settings directly below ``prefix``."""
        depth = prefix.count(".") + 1
        defaults = {s.key.split(".")[-1]: s.default for s in self.registry("setting").values()
                    if s.key.startswith(prefix + ".") and s.key.count(".") == depth and s.default is not None}
        return {**defaults, **values}

    @cached_property
    def world(self) -> World:
        return load_world(self.home, self.env)

    def section(self, name: str) -> dict:
        """One config section, over the defaults its plugins declare (an empty mapping when neither)."""
        return self._with_defaults(name, self.config.get(name) or {})

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
        """The config settings of one registration: ``SECTION.NAME`` of its family's settings section,
        over the defaults its plugin declares (``storage.pixelfs.*``)."""
        from pxos_kernel.registrations import FAMILIES

        section = FAMILIES[family].settings
        value = (self.config.get(section) or {}).get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"config file {self.home / 'config.yaml'}: {section}.{name} "
                              f"must be a mapping of settings, not {type(value).__name__}")
        return self._with_defaults(f"{section}.{name}", value)

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
