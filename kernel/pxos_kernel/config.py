"""Where pxOS keeps its state, and the two YAML documents it reads.

* ``PXOS_HOME`` (default: the platform's user data directory) holds
  ``config.yaml``, the ledger and every plugin's state.
* The world manifest names the default backend of each hook family and the
  plugins the default world expects. It is ``PXOS_WORLD`` if set, else
  ``PXOS_HOME/world.yaml`` if present, else the ``world.yaml`` shipped with
  the kernel (``manifests/world.yaml`` in the repository).

Both are read with PyYAML's safe loader and validated; a file that cannot be
read or parsed is refused with its path and the problem, and never rewritten.
``config.yaml`` is checked against the settings every installed plugin declares
(:class:`~pxos_kernel.registrations.Setting`, hook ``pxos_settings``), and
changed only through :func:`edit_config`, which keeps its comments and layout.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, MutableMapping, Optional

from pxos_kernel.errors import ConfigError, did_you_mean
from pxos_kernel.files import atomic_write
from pxos_kernel.values import Value

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from pxos_kernel.registrations import Setting

CONFIG_NAME = "config.yaml"

#: Sections of config.yaml the kernel itself reads, besides each family's per-name settings section.
KERNEL_SECTIONS = ("defaults", "ledger", "sandbox")


def config_sections() -> tuple[str, ...]:
    """The sections ``load_config`` requires to be mappings, before any plugin's settings are known."""
    from pxos_kernel.registrations import FAMILIES

    return (*KERNEL_SECTIONS, *(f.settings for f in FAMILIES.values() if f.settings))


class ConfigProblem(Value):
    """One thing wrong in ``config.yaml``: an ``error`` (refused) or a warning (ignored, with advice)."""

    __slots__ = ("key", "message", "error")
    key: str
    message: str
    error: bool

    def __init__(self, key: str, message: str, error: bool) -> None:
        self._fill(key, message, error)

    def line(self, path: "Path | str") -> str:
        return f"config file {path}: {self.message}"


def check_config(data: Mapping[str, Any], settings: Iterable["Setting"],
                 families: Mapping[str, tuple[str, Iterable[str]]]) -> list[ConfigProblem]:
    """Every problem of ``data`` against the declared settings; ``[]`` for a valid file.

    ``families`` maps each family's settings section (``storage``) to its noun
    and registered names: the keys of such a section are registration names,
    and those of a name the plugins declare nothing for are left to its plugin.
    """
    declared = {s.key: s for s in settings}
    sections = {".".join(key.split(".")[:i]) for key in declared for i in range(1, key.count(".") + 1)}
    problems = _structure_problems(data)
    reported = {p.key for p in problems}

    def children(prefix: str) -> list[str]:
        depth = prefix.count(".") + 1 if prefix else 0
        return sorted({k.split(".")[depth] for k in (*declared, *sections)
                       if (k.startswith(prefix + ".") if prefix else True) and k.count(".") >= depth})

    def walk(mapping: Mapping[Any, Any], prefix: str) -> None:
        for raw, value in mapping.items():
            key = str(raw)
            path = f"{prefix}.{key}" if prefix else key
            if path in reported:
                continue
            setting = declared.get(path)
            if setting is not None or path in sections:
                if value is None:
                    continue  # written but empty: unset
                problem = _value_problem(path, value, setting)
                if problem:
                    problems.append(ConfigProblem(path, problem, True))
                elif isinstance(value, dict) and (path in sections or path in families):
                    walk(value, path)
                continue
            if prefix in families:
                noun, names = families[prefix]
                names = list(names)
                if key not in names:
                    problems.append(ConfigProblem(path, f"{path}: no installed plugin registers a {noun} named "
                                                  f"{key!r}{did_you_mean(key, names)}, so nothing reads it", False))
                elif value is not None and not isinstance(value, dict):
                    problems.append(ConfigProblem(path, f"{path} must be a mapping of settings, not "
                                                  f"{type(value).__name__}", True))
                continue
            known = children(prefix)
            if not prefix:
                problems.append(ConfigProblem(path, f"unknown section {key!r}{did_you_mean(key, known)}; "
                                              "no installed plugin reads it", False))
            else:
                problems.append(ConfigProblem(path, f"unknown key {path}{did_you_mean(key, known)}; "
                                              f"{prefix} knows {', '.join(known) or 'no keys'}", False))

    walk(data, "")
    return problems


def _value_problem(path: str, value: Any, setting: Optional["Setting"]) -> str:
    """What is wrong with ``value`` for the setting (or section) at ``path``; ``""`` if nothing."""
    if setting is None or setting.types == (dict,):
        if not isinstance(value, dict):
            what = f"section {path!r}" if "." not in path else path
            return f"{what} must be a mapping, not {type(value).__name__}"
        return ""
    if not setting.accepts(value):
        return f"{path} must be {setting.type_name}, not {value!r}"
    if setting.choices and value not in setting.choices:
        return (f"{path} must be one of {', '.join(map(str, setting.choices))}, not {value!r}"
                f"{did_you_mean(str(value), map(str, setting.choices))}")
    return ""


def _structure_problems(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """What the kernel refuses before any plugin's settings are known (``load_config`` raises the first)."""
    problems = []
    for section in config_sections():
        if data.get(section) is not None and not isinstance(data[section], dict):
            problems.append(ConfigProblem(section, f"section '{section}' must be a mapping, "
                                          f"not {type(data[section]).__name__}", True))
    try:
        check_defaults(data.get("defaults") or {}, "")
    except ConfigError as exc:
        problems.append(ConfigProblem("defaults", str(exc).removeprefix(": "), True))
    ledger = data.get("ledger")
    if isinstance(ledger, dict) and "sink" in ledger:  # moved: one name, one place for every family's default
        problems.append(ConfigProblem("ledger.sink", f"ledger.sink is now defaults.sink "
                                      f"(write 'defaults: {{sink: {ledger['sink']}}}')", True))
    return problems


def check_defaults(defaults: Any, where: str) -> dict:
    """A ``defaults:`` mapping of family name to registration name, checked against the family table."""
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
    if sys.platform.startswith("linux"):
        # platformdirs' XDG rule, written out: importing platformdirs pulls tempfile, shutil and re
        # into every command's start-up (about 8 ms of the 60 ms budget). Elsewhere it knows best.
        data = env.get("XDG_DATA_HOME", "")  # the XDG rule: only an absolute path counts
        return Path(data if os.path.isabs(data) else os.path.expanduser("~/.local/share")) / "pxos"
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
    """Read ``HOME/config.yaml`` (an empty mapping when it does not exist).

    Refuses, in one line naming the file, what no plugin's settings can make
    right: invalid YAML, a top level or kernel section that is not a mapping,
    a bad ``defaults`` entry. The settings plugins declare are checked by the
    kernel that loaded them (:attr:`Kernel.config`, ``pxos-kernel config validate``).
    """
    path = home / CONFIG_NAME
    data = parse_config(path)
    for problem in _structure_problems(data):
        raise ConfigError(problem.line(path))
    return data


def parse_config(path: Path) -> dict:
    """The file's content as a mapping, refusing only what cannot be read as one (not yet checked)."""
    if not path.exists():
        return {}
    data = load_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: top level must be a mapping, not {type(data).__name__}")
    return data


class ConfigDocument:
    """``config.yaml`` open for a change (from :func:`edit_config`): values by dotted key.

    ``set`` edits mappings and lists in place, so the comments on what stays
    stay too; ``root`` is the whole round-trip document (ruamel.yaml mappings
    and lists, which are ``dict`` and ``list``).
    """

    def __init__(self, root: MutableMapping[str, Any]) -> None:
        self.root = root

    def get(self, key: str, default: Any = None) -> Any:
        """The value at ``key`` (``"network.consent"``), or ``default`` when the file does not set it."""
        value: Any = self.root
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    def set(self, key: str, value: Any) -> None:
        """Set ``key``, creating the mappings above it; ConfigError when one of them is not a mapping."""
        *parents, last = key.split(".")
        node = self.root
        for depth, part in enumerate(parents):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                where = ".".join(parents[:depth + 1])
                raise ConfigError(f"cannot set {key}: {where} is {child!r}, not a mapping")
            node = child
        _update(node, last, value)

    def unset(self, key: str) -> bool:
        """Remove ``key`` from the file, and the mappings above it that it leaves empty; whether it was there."""
        *parents, last = key.split(".")
        node = self.get(".".join(parents)) if parents else self.root
        if not isinstance(node, dict) or last not in node:
            return False
        del node[last]
        if parents and not node:
            self.unset(".".join(parents))
        return True


@contextmanager
def edit_config(home: Path) -> Iterator[ConfigDocument]:
    """Change ``config.yaml`` in place, keeping its comments, order and layout.

    Yields a :class:`ConfigDocument`; when the block ends without an
    exception, a changed document is written back atomically with the file's
    mode, under a lock against other writers (a second one waits). A file that
    cannot be parsed is refused and left as it is; one with wrong settings can
    be edited, so that they can be put right::

        with edit_config(kernel.home) as config:
            hosts = config.get("network.consent", [])
            config.set("network.consent", [*hosts, "api.example.org"])
    """
    import fcntl

    path = home / CONFIG_NAME
    home.mkdir(parents=True, exist_ok=True)
    with open(home / f".{CONFIG_NAME}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # read-modify-write: a second writer waits for the first
        parse_config(path)  # never rewrite a file we could not read
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        root, yaml = _round_trip(text)
        yield ConfigDocument(root)
        out = io.StringIO()
        yaml.dump(root, out)
        new = out.getvalue() if root else ""
        if new == text:
            return
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        atomic_write(path, new.encode("utf-8"), mode)


def _round_trip(text: str) -> tuple[Any, Any]:
    """``text`` as a ruamel.yaml round-trip document, and the YAML object that writes it the same way."""
    from ruamel.yaml import YAML  # only for writing: reading goes through PyYAML's faster C loader
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.util import load_yaml_guess_indent

    document, sequence, offset = (load_yaml_guess_indent(text) if text.strip() else (None, None, None))
    mapping = _mapping_indent(text)
    yaml = YAML()
    if offset is None:  # no block list in the file: lists are written as '- item' under their key
        sequence, offset = mapping, 0
    yaml.indent(mapping=mapping, sequence=max(sequence or mapping, offset + 2), offset=offset)
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the user wrote
    return (document if document is not None else CommentedMap()), yaml


def _mapping_indent(text: str) -> int:
    """How far the file indents a nested mapping (2 when it has none): the first ``key:`` line's child."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, child in zip(lines, lines[1:]):
        depth, inner = len(line) - len(line.lstrip()), len(child) - len(child.lstrip())
        if line.split("#")[0].rstrip().endswith(":") and inner > depth and not child.lstrip().startswith("-"):
            return inner - depth
    return 2


def save_config(home: Path, data: Mapping[str, Any]) -> None:
    """Make ``config.yaml`` hold ``data``; what stays keeps its comments and layout (see :func:`edit_config`)."""
    with edit_config(home) as config:
        _replace(config.root, data)


def _replace(node: MutableMapping[str, Any], data: Mapping[str, Any]) -> None:
    """Change the mapping ``node`` into ``data`` in place."""
    for key in [k for k in node if k not in data]:
        del node[key]
    for key, value in data.items():
        _update(node, key, value)


def _update(node: MutableMapping[str, Any], key: str, value: Any) -> None:
    """``node[key] = value``, editing a mapping or list already there rather than replacing it."""
    old = node.get(key)
    if isinstance(old, dict) and isinstance(value, Mapping):
        _replace(old, value)
    elif isinstance(old, list) and isinstance(value, list):
        for index in reversed([i for i, item in enumerate(old) if item not in value]):
            del old[index]
        if list(old) == [item for item in value if item in old]:  # the same order: insert only the new items
            for index, item in enumerate(value):
                if index >= len(old) or old[index] != item:
                    old.insert(index, item)
        else:
            old[:] = value
    elif key not in node or old != value or type(old) is not type(value):
        node[key] = value


class World(Value):
    """The world manifest: default backends per family and expected plugins."""

    __slots__ = ("name", "source", "defaults", "expects")
    name: str
    source: str
    defaults: Mapping[str, str]
    expects: tuple[str, ...]

    def __init__(self, name: str, source: str, defaults: Optional[Mapping[str, str]] = None,
                 expects: tuple[str, ...] = ()) -> None:
        self._fill(name, source, {} if defaults is None else defaults, expects)


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
