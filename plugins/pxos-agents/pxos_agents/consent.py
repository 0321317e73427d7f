"""Network consent: which hosts the user allows agents to contact.

Genesis §8 says no network without consent. Consent is per host and lives in
``PXOS_HOME/config.yaml``::

    network:
      consent: [127.0.0.1, api.example.org]

Nothing is allowed by default, loopback included: talking to a local server is
still a network request the user should have agreed to. The list is changed
through the kernel's :func:`~pxos_kernel.edit_config` (as ``pxos-kernel config
set`` is): the file keeps its comments and layout, is replaced atomically, and is
never rewritten when it cannot be parsed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from pxos_kernel import ConfigError, NetworkConsentError, edit_config, load_config

_HOST = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|[0-9a-fA-F:]+)$")


def normalize_host(host: str) -> str:
    """Lower-case a host name and check it looks like one (no scheme, port or path)."""
    if not isinstance(host, str) or not _HOST.match(host.strip()):
        raise ConfigError(f"network host {host!r} is not a host name or address (give e.g. 127.0.0.1 or "
                          "api.example.org, without scheme, port or path)")
    return host.strip().lower().strip("[]")


def consented_hosts(config: Mapping[str, Any], where: str = "config.yaml") -> list[str]:
    """The hosts listed under ``network.consent`` in ``config``."""
    hosts = (config.get("network") or {}).get("consent") or []
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError(f"{where}: network.consent must be a list of host names")
    return [normalize_host(h) for h in hosts]


def read_consent(home: Path) -> list[str]:
    """The consented hosts, read fresh from ``home/config.yaml``."""
    return consented_hosts(load_config(home), str(home / "config.yaml"))


def check_consent(home: Path, host: str, *, agent: str) -> None:
    """Raise :class:`NetworkConsentError` unless the user consented to ``host``."""
    host = normalize_host(host)
    if host not in read_consent(home):
        raise NetworkConsentError(
            f"agent {agent}: no network consent for host {host}; grant it with "
            f"'pxos-kernel agent consent grant {host}'")


def _update(home: Path, change) -> list[str]:
    with edit_config(home) as config:  # refuses an unparsable file: we never overwrite it
        hosts = change(consented_hosts(config.root, str(home / "config.yaml")))
        config.set("network.consent", hosts)
    return hosts


def grant(home: Path, hosts: Iterable[str]) -> list[str]:
    """Add ``hosts`` to the consent list; returns the new list."""
    wanted = [normalize_host(h) for h in hosts]
    return _update(home, lambda current: sorted(set(current) | set(wanted)))


def revoke(home: Path, hosts: Iterable[str]) -> list[str]:
    """Remove ``hosts`` from the consent list; returns the new list."""
    unwanted = {normalize_host(h) for h in hosts}
    return _update(home, lambda current: [h for h in current if h not in unwanted])
