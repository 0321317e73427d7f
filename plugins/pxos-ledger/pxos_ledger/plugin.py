"""The pxos entry point of pxos-ledger: sinks, subcommands and the reducer hook.

Imports only the kernel and the stdlib: SQLite, psycopg and Pillow are loaded
by the factories and actions that need them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pxos_kernel import ConfigError, Setting, SinkSpec, Subcommand, hookimpl, lazy


def _sqlite_sink(settings: dict):
    from pxos_ledger.sqlite_sink import SqliteSink

    path = settings.get("path") or Path(settings["root"]) / "ledger.sqlite"
    return SqliteSink(path, durability=settings.get("durability", "flush"),
                      group_size=settings.get("group_size", 64), group_interval=settings.get("group_interval", 0.05))


def _postgres_sink(settings: dict):
    from pxos_ledger.postgres_sink import PostgresSink

    dsn = settings.get("dsn") or os.environ.get("PXOS_LEDGER_DSN")
    if not dsn:
        raise ConfigError("the postgres ledger sink needs a DSN: set ledger.dsn in config.yaml or PXOS_LEDGER_DSN")
    return PostgresSink(dsn, table=settings.get("table", "pxos_ledger"), durability=settings.get("durability", "fsync"))


@hookimpl
def pxos_sinks():
    return [
        SinkSpec("sqlite", _sqlite_sink, "SQLite database (WAL) in PXOS_HOME/ledger/ledger.sqlite, many processes"),
        SinkSpec("postgres", _postgres_sink, "a PostgreSQL table (psycopg 3), many agents on many machines"),
    ]


@hookimpl
def pxos_settings():
    """The ledger section's keys of these sinks (``ledger.path`` and ``ledger.durability`` are the kernel's)."""
    return [
        Setting("ledger.group_size", int, 64, "sqlite: most records one group commit writes"),
        Setting("ledger.group_interval", float, 0.05, "sqlite: seconds a group commit waits to fill"),
        Setting("ledger.dsn", str, None, "postgres: the connection string (else PXOS_LEDGER_DSN)"),
        Setting("ledger.table", str, "pxos_ledger", "postgres: the table holding the ledger"),
    ]


@hookimpl
def pxos_addhooks(pluginmanager):
    from pxos_ledger import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


@hookimpl
def pxos_ledger_reducers():
    from pxos_ledger.reducers import builtin_reducers

    return builtin_reducers()


COMMANDS = [
    ("ledger show", "show records in full (filters as for 'ledger query')"),
    ("ledger query", "list records by agent, type, corridor prefix, op, time, ATOM id or payload field"),
    ("ledger replay", "fold records through registered reducers; --to for point-in-time, --fork to branch"),
    ("ledger reducers", "list the registered replay reducers"),
    ("ledger prove", "write a Merkle inclusion proof of one record against a sealed head"),
    ("ledger check-proof", "check an inclusion proof without reading the ledger"),
    ("ledger render", "draw the ledger as a PNG: one cell per record, broken links in red"),
    ("ledger tokens", "the token stream (JSONL) of a record's state, capped at 4,096 tokens"),
    ("ledger grid", "the pixel grid (JSON and PNG) of a record's state"),
    ("ledger snapshot", "snapshot a directory or state JSON into a .checkpoint/ layout and record it"),
]


@hookimpl
def pxos_subcommands():
    ident = lambda name: name.replace(" ", "_").replace("-", "_")  # noqa: E731
    return [Subcommand(name, summary, lazy(f"pxos_ledger.commands:run_{ident(name)}"),
                       lazy(f"pxos_ledger.commands:configure_{ident(name)}"))
            for name, summary in COMMANDS]
