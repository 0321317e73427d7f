"""``config show|get|set|unset|validate``: the settings of ``config.yaml``, checked against every plugin's.

Reading goes through :func:`~pxos_kernel.config.load_config`; every change goes
through :func:`~pxos_kernel.config.edit_config`, so the file keeps its comments
and layout, is replaced atomically, and is never rewritten when it cannot be
parsed. A change the installed plugins would refuse is refused before writing.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from pxos_kernel.config import CONFIG_NAME, ConfigDocument, ConfigProblem, edit_config, load_yaml, parse_config
from pxos_kernel.errors import ConfigError, NotFoundError, UsageError, did_you_mean
from pxos_kernel.output import add_json_flag, print_json, print_table

_MISSING = object()


def _key_argument(parser, what: str) -> None:
    parser.add_argument("key", metavar="KEY", help=f"{what}, a dotted path such as sandbox.timeout")


def _declared(kernel) -> dict:
    return {s.key: s for s in kernel.registry("setting").values()}


def _lookup(data: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _render(value: Any) -> str:
    """A value as the user would write it in YAML: ``true``, ``30``, ``[a, b]``, ``{sink: sqlite}``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        import yaml

        return yaml.safe_dump(value, default_flow_style=True, width=1 << 16, sort_keys=False).strip()
    return str(value)


def _leaves(data: dict, prefix: str = "") -> dict:
    """Every value under ``data`` by dotted key (a mapping that is empty counts as one value)."""
    found = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found.update(_leaves(value, path + "."))
        else:
            found[path] = value
    return found


# -- show -----------------------------------------------------------------------------------------


def configure_config_show(parser) -> None:
    parser.add_argument("prefix", nargs="?", metavar="PREFIX", help="only the settings under this key (e.g. ledger)")
    add_json_flag(parser)


def run_config_show(args) -> int:
    """Every declared setting with its value and where it comes from, and what the file sets beyond them."""
    kernel = args.kernel
    path = kernel.home / CONFIG_NAME
    data = kernel.config
    declared = _declared(kernel)
    owners = kernel.registry("setting")
    sections = {".".join(k.split(".")[:i]) for k in declared for i in range(1, k.count(".") + 1)}
    rows: dict[str, dict] = {}
    for key, setting in declared.items():
        if key in sections or key in _family_sections():
            continue  # a section: its settings have rows of their own
        value = _lookup(data, key)
        rows[key] = {"key": key, "value": setting.default if value is _MISSING else value,
                     "source": "default" if value is _MISSING else "config.yaml", "declared": True,
                     "type": setting.type_name, "default": setting.default, "summary": setting.summary,
                     "plugin": owners.owner(key)}
        if value is _MISSING and setting.default is None:
            rows[key]["source"] = "unset"
    for key, value in _leaves(data).items():
        if key not in rows and not any(key.startswith(d + ".") and d in rows for d in declared):
            rows[key] = {"key": key, "value": value, "source": "config.yaml", "declared": False, "type": None,
                         "default": None, "summary": "(no installed plugin declares it)", "plugin": None}
    chosen = [rows[k] for k in sorted(rows) if not args.prefix or k == args.prefix or k.startswith(args.prefix + ".")]
    if args.prefix and not chosen:
        raise NotFoundError(f"no setting is under {args.prefix!r}{did_you_mean(args.prefix, rows)}")
    if args.json:
        print_json({"path": str(path), "exists": path.exists(), "settings": chosen})
        return 0
    print_table(["key", "value", "from", "summary"],
                [[r["key"], _render(r["value"]), r["source"], r["summary"]] for r in chosen])
    return 0


def _family_sections() -> set[str]:
    from pxos_kernel.registrations import FAMILIES

    return {f.settings for f in FAMILIES.values() if f.settings}


# -- get ------------------------------------------------------------------------------------------


def configure_config_get(parser) -> None:
    _key_argument(parser, "the setting to print")
    add_json_flag(parser)


def run_config_get(args) -> int:
    """The value of one setting (the file's, else its declared default); exit 1 when it has neither."""
    kernel = args.kernel
    declared = _declared(kernel)
    value = _lookup(kernel.config, args.key)
    if value is _MISSING:
        if args.key not in declared:
            known = [*declared, *_leaves(kernel.config)]
            raise NotFoundError(f"no setting {args.key!r}{did_you_mean(args.key, known)} is declared by an "
                                f"installed plugin or set in {kernel.home / CONFIG_NAME}")
        value = declared[args.key].default
        if value is None:
            raise NotFoundError(f"setting {args.key} is not set and has no default "
                                f"(set it with 'pxos-kernel config set {args.key} VALUE')")
    if args.json:
        print_json({"key": args.key, "value": value})
    elif isinstance(value, dict):
        import yaml

        print(yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip())
    else:
        print(_render(value))
    return 0


# -- set and unset --------------------------------------------------------------------------------


def configure_config_set(parser) -> None:
    _key_argument(parser, "the setting to change")
    parser.add_argument("value", metavar="VALUE", help="its new value, as YAML: 30, true, text, '[a, b]'")
    parser.add_argument("--force", action="store_true",
                        help="write a key that no installed plugin declares (a plugin you will install later)")
    add_json_flag(parser)


def run_config_set(args) -> int:
    """Set one key, refusing a value the installed plugins would refuse; the rest of the file is kept as it is."""
    kernel = args.kernel
    value = _parse_value(args.key, args.value, _declared(kernel).get(args.key))
    path = kernel.home / CONFIG_NAME
    current = parse_config(path)
    proposed = copy.deepcopy(current)
    try:
        ConfigDocument(proposed).set(args.key, value)
    except ConfigError as exc:
        raise UsageError(f"{exc}; {path} is unchanged") from None
    problems = _problems_at(kernel, proposed, args.key)
    refused = [p for p in problems if p.error or not args.force]
    if refused:
        problem = refused[0]
        hint = "" if problem.error else " (--force writes it anyway)"
        raise UsageError(f"cannot set {args.key}: {problem.message}{hint}; {path} is unchanged")
    previous = _lookup(current, args.key)
    with edit_config(kernel.home) as config:
        config.set(args.key, value)
    if args.json:
        print_json({"path": str(path), "key": args.key, "value": value,
                    "previous": None if previous is _MISSING else previous})
    else:
        print(f"{args.key} = {_render(value)} ({path})")
    return 0


def _parse_value(key: str, text: str, setting: Optional[Any]) -> Any:
    """``text`` read as YAML; kept as the string it is when the setting takes a string and YAML saw a scalar."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        if setting is not None and setting.accepts(text):
            return text
        raise UsageError(f"cannot set {key}: {text!r} is not a YAML value ({str(exc).splitlines()[0]})") from None
    if setting is not None and not isinstance(value, (list, dict)) and not setting.accepts(value) \
            and setting.accepts(text):
        return text  # '007' for a string setting is the text 007, not the number 7
    return value


def _problems_at(kernel, data: dict, key: str) -> list[ConfigProblem]:
    """The problems of ``data`` about ``key``, a section above it, or a key below it."""
    return [p for p in kernel.config_problems(data)
            if p.key == key or key.startswith(p.key + ".") or p.key.startswith(key + ".")]


def configure_config_unset(parser) -> None:
    _key_argument(parser, "the setting to remove from the file (it returns to its default)")
    add_json_flag(parser)


def run_config_unset(args) -> int:
    kernel = args.kernel
    path = kernel.home / CONFIG_NAME
    removed: Any = _MISSING
    if path.exists():
        with edit_config(kernel.home) as config:
            removed = config.get(args.key, _MISSING)
            config.unset(args.key)
    if args.json:
        print_json({"path": str(path), "key": args.key, "removed": removed is not _MISSING,
                    "previous": None if removed is _MISSING else removed})
    elif removed is _MISSING:
        print(f"{args.key} is not set in {path}: nothing to do")
    else:
        print(f"{args.key} removed ({path})")
    return 0


# -- validate -------------------------------------------------------------------------------------


def configure_config_validate(parser) -> None:
    parser.add_argument("--file", metavar="PATH", help="check this file instead of PXOS_HOME/config.yaml")
    add_json_flag(parser)


def run_config_validate(args) -> int:
    """Check the whole file against every installed plugin's settings: exit 1 on an error, 0 otherwise."""
    from pathlib import Path

    kernel = args.kernel
    path = Path(args.file) if args.file else kernel.home / CONFIG_NAME
    if not path.exists():
        if args.file:
            raise NotFoundError(f"config file {path} does not exist")
        data: Any = {}
    else:
        data = load_yaml(path, "config file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems = [ConfigProblem("", f"top level must be a mapping, not {type(data).__name__}", True)]
    else:
        problems = kernel.config_problems(data)
    errors = [p.line(path) for p in problems if p.error]
    warnings = [p.line(path) for p in problems if not p.error]
    if args.json:
        print_json({"path": str(path), "exists": path.exists(), "valid": not errors, "errors": errors,
                    "warnings": warnings})
    else:
        for line in errors:
            print(f"error: {line}")
        for line in warnings:
            print(f"warning: {line}")
        if not path.exists():
            print(f"config file {path} does not exist: every setting has its default")
        elif not problems:
            print(f"config file {path} is valid ({len(_leaves(data))} value(s) checked against "
                  f"{len(kernel.registry('setting'))} declared settings)")
        else:
            print(f"config file {path}: {len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if errors else 0
