"""Reading a backend's settings (``root`` plus the user's ``storage.SCHEME`` config section)."""

from __future__ import annotations

from typing import Any, Mapping, Optional, overload

from pxos_kernel import ConfigError


@overload
def int_setting(settings: Mapping[str, Any], scheme: str, name: str, default: int, low: int, high: int) -> int: ...
@overload
def int_setting(settings: Mapping[str, Any], scheme: str, name: str, default: None,
                low: int, high: int) -> Optional[int]: ...
def int_setting(settings: Mapping[str, Any], scheme: str, name: str, default: Optional[int],
                low: int, high: int) -> Optional[int]:
    """``settings[name]`` as an integer in ``[low, high]``, or ``default`` when absent."""
    value = settings.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"storage.{scheme}.{name} must be an integer from {low} to {high}, not {value!r}")
    return value


def root_setting(settings: Mapping[str, Any], scheme: str) -> str:
    root = settings.get("root")
    if not isinstance(root, str) or not root:
        raise ConfigError(f"storage.{scheme}.root must be a directory path, not {root!r}")
    return root
