"""Where pxOS keeps its state, and the two YAML documents it reads.

* ``PXOS_HOME`` (default: the platform's user data directory) holds
  ``config.yaml``, the ledger and every plugin's state.
* The world manifest names the default backend of each hook family and the
  plugins the default world expects. It is ``PXOS_WORLD`` if set, else
  ``PXOS_HOME/world.yaml`` if present, else the ``world.yaml`` shipped with
  the kernel (``manifests/world.yaml`` in the repository).

Both are read with PyYAML's safe loader and validated; a file that cannot be
read or parsed is refused with its path and the problem, and never rewritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from pxos_kernel.errors import ConfigError
from pxos_kernel.files import atomic_write

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

CONFIG_NAME = "config.yaml"

#: Sections of config.yaml the kernel reads besides each family's settings section.
KERNEL_SECTIONS = ("defaults", "sandbox", "network", "plugins")


def config_sections() -> tuple[str, ...]:
    """Every top-level section the kernel knows; each must be a mapping."""
    from pxos_kernel.registrations import FAMILIES

    return (*KERNEL_SECTIONS, *(f.settings for f in FAMILIES.values() if f.settings))


def check_sections(data: Mapping[str, Any], sections: Any, path: Path) -> list[str]:
    """Check ``data`` against the declared :class:`~pxos_kernel.registrations.ConfigSection` registry.

    Returns a warning per unknown section or key (with a "did you mean");
    raises ConfigError, naming the key path, for a value of the wrong type.
    """
    from pxos_kernel.errors import did_you_mean

    warnings = []
    known = sections.names()
    for name, value in data.items():
        if name not in sections:
            warnings.append(f"config file {path}: unknown section {name!r}{did_you_mean(name, known)}; "
                            "no installed plugin reads it")
            continue
        section = sections.get(name)
        if not section.keys or not isinstance(value, dict):
            continue
        for key, item in value.items():
            kind = section.keys.get(key)
            if kind is None:
                if not section.open:
                    warnings.append(f"config file {path}: unknown key {name}.{key}"
                                    f"{did_you_mean(key, section.keys)}; {name} knows {', '.join(section.keys)}")
            elif item is not None and (not isinstance(item, kind) or isinstance(item, bool) and kind is not bool):
                expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
                raise ConfigError(f"config file {path}: {name}.{key} must be a {expected}, not {item!r}")
    return warnings


def check_defaults(defaults: Any, where: str) -> dict:
    """A ``defaults:`` mapping of family name to registration name, checked against the family table."""
    from pxos_kernel.errors import did_you_mean
    from pxos_kernel.registrations import FAMILIES

    if not isinstance(defaults, dict):
        raise ConfigError(f"{where}: 'defaults' must be a mapping of family to name, not {type(defaults).__name__}")
    known = [name for name, family in FAMILIES.items() if family.has_default]
    for family, name in defaults.items():
        if family not in known:
            raise ConfigError(f"{where}: unknown family {family!r} in defaults{did_you_mean(family, known)} "
                              f"(known: {', '.join(known)})")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: defaults.{family} must be a name, not {name!r}")
    return dict(defaults)


def home_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    """The state directory: ``PXOS_HOME`` or the platform's user data directory."""
    env = os.environ if env is None else env
    if env.get("PXOS_HOME"):
        return Path(env["PXOS_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("pxos", appauthor=False))


def load_yaml(path: "Path | Traversable", what: str) -> Any:
    """Parse ``path`` (a file or a package resource) with the safe loader; ConfigError names it and the problem."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:  # libyaml's safe loader when PyYAML was built with it: ten times faster
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{what} {path}: invalid YAML{where}: {problem}") from None


def load_config(home: Path) -> dict:
    """Read ``HOME/config.yaml`` (an empty mapping when it does not exist)."""
    path = home / CONFIG_NAME
    if not path.exists():
        return {}
    data = load_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping, not {type(data).__name__}")
    for section in config_sections():
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise ConfigError(f"config file {path}: section '{section}' must be a mapping, "
                              f"not {type(data[section]).__name__}")
    check_defaults(data.get("defaults") or {}, f"config file {path}")
    if "sink" in (data.get("ledger") or {}):  # moved: one name, one place for every family's default
        raise ConfigError(f"config file {path}: ledger.sink is now defaults.sink "
                          f"(write 'defaults: {{sink: {data['ledger']['sink']}}}')")
    return data


def save_config(home: Path, data: dict) -> None:
    """Write ``config.yaml`` atomically; refuses if the existing file cannot be parsed."""
    import yaml

    load_config(home)  # never overwrite a file we could not read
    atomic_write(home / CONFIG_NAME, yaml.safe_dump(data, sort_keys=True).encode("utf-8"))


@dataclass(frozen=True)
class World:
    """The world manifest: default backends per family and expected plugins."""

    name: str
    source: str
    defaults: Mapping[str, str] = field(default_factory=dict)
    expects: tuple[str, ...] = ()


def load_world(home: Path, env: Optional[Mapping[str, str]] = None) -> World:
    """``PXOS_WORLD`` if set; else the shipped world with ``HOME/world.yaml`` laid over it.

    The overlay replaces only what it names: its ``defaults`` entries win one
    by one, and its ``expects`` (when given) replaces the list.
    """
    env = os.environ if env is None else env
    if env.get("PXOS_WORLD"):
        return parse_world(Path(env["PXOS_WORLD"]))
    from importlib.resources import files

    # A Traversable, not a Path: inside a system cartridge the manifest is an archive member.
    shipped = parse_world(files("pxos_kernel.manifests").joinpath("world.yaml"))
    local = home / "world.yaml"
    if not local.exists():
        return shipped
    overlay = parse_world(local, overlay=True)
    return World(overlay.name if overlay.name != "world" else shipped.name, f"{shipped.source} + {local}",
                 {**shipped.defaults, **overlay.defaults}, overlay.expects or shipped.expects)


def parse_world(path: "Path | Traversable", *, overlay: bool = False) -> World:
    """Read one world manifest; ``overlay=True`` (a user's ``world.yaml``) lets ``version`` be left out."""
    from pxos_kernel.errors import did_you_mean

    data = load_yaml(path, "world manifest")
    if data is None and overlay:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"world manifest {path}: top level must be a mapping")
    keys = ("version", "name", "defaults", "expects", "description")
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise ConfigError(f"world manifest {path}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], keys)}")
    if data.get("version", None if not overlay else 1) != 1:
        raise ConfigError(f"world manifest {path}: version must be 1, not {data.get('version')!r}")
    defaults = check_defaults(data.get("defaults") or {}, f"world manifest {path}")
    expects = data.get("expects") or []
    if not isinstance(expects, list) or not all(isinstance(e, str) and e for e in expects):
        raise ConfigError(f"world manifest {path}: 'expects' must be a list of distribution names")
    return World(str(data.get("name", "world")), str(path), dict(defaults), tuple(expects))
