"""Genesis §8 (no backdoors) and §11.3 (open and inspectable), by static analysis of the sources.

What the manifest declares (``declared_uses``, see :mod:`pxos_genesis.checks.declared`)
is accepted and shown with its reason; anything undeclared fails.

The consented, logged way out of a cartridge is the kernel: ``kernel.agent(name)``
(pxos-agents refuses hosts the user has not consented to and writes every request
to the ledger). Config ``genesis.network_clients`` may name further modules the
user trusts to do the same.
"""

from __future__ import annotations

from typing import Any, Mapping

from pxos_genesis.checks import check, judge, plural
from pxos_genesis.checks.archive import parsed_sources
from pxos_genesis.checks.declared import declarations, describe, sort
from pxos_genesis.checks.sourcescan import BINARY_CODE_SUFFIXES, Finding, scan_source
from pxos_genesis.subject import Candidate, memo


def consented_clients(context: Mapping[str, Any]) -> tuple[str, ...]:
    """Modules the user's config allows to reach the network (default: none)."""
    return tuple(context["kernel"].section("genesis").get("network_clients") or ())


def findings(candidate: Candidate, context: Mapping[str, Any]) -> tuple[int, list[Finding]]:
    """(number of sources scanned, every finding in them), computed once per candidate and context."""
    cache = memo(context, "sourcescan")
    key = (candidate.label, str(candidate.archive_path))
    if cache is not None and key in cache:
        return cache[key]
    allowed = consented_clients(context)
    count, found = 0, []
    system = bool(candidate.archive.metadata.get("system"))
    for path, source, tree in parsed_sources(candidate.archive, context):
        if system and path.startswith("source/"):
            continue  # the plugins' own tests: data that only world test runs, in the sandbox
        count += 1
        found.extend(scan_source(source, path, allowed, tree))
    if cache is not None:
        cache[key] = (count, found)
    return count, found


def _scope(count: int, context: Mapping[str, Any]) -> str:
    allowed = ", ".join(consented_clients(context)) or "none besides kernel.agent()"
    return f"imports and calls of {plural(count, 'Python source')} read with ast (consented network clients: {allowed})"


def _judge_declared(candidate: Candidate, context: Mapping[str, Any], kinds: tuple[str, ...], scope: str,
                    what: str) -> Any:
    """Findings of ``kinds``: each must be declared in the manifest, and each declaration must be needed."""
    count, found = findings(candidate, context)
    declared = declarations(candidate.archive.manifest, f"the manifest of {candidate.label}")
    result = sort(found, declared, kinds, candidate.archive.names())
    problems: list = list(result.undeclared)
    problems += [(f"declared use {use!r} of {d.path} is not found in the code (remove it from declared_uses)",
                  d.path) for d, use in result.unused]
    accepted = sum(len(v) for v in result.accepted.values())
    return judge(problems, f"{scope}: {plural(len(result.undeclared), 'undeclared ' + what)}, "
                 f"{plural(accepted, 'declared use')} accepted: {describe(result.accepted)}")


@check("no_direct_network")
def no_direct_network(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    count, _ = findings(candidate, context)
    return _judge_declared(candidate, context, ("network-import",), _scope(count, context), "network module import")


@check("network_through_logged_client")
def network_through_logged_client(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    count, _ = findings(candidate, context)
    return _judge_declared(candidate, context, ("network-call",), _scope(count, context),
                           "network call that would bypass the logged client")


@check("no_hidden_code")
def no_hidden_code(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    count, _ = findings(candidate, context)
    return _judge_declared(candidate, context, ("hidden-code", "unparsable"),
                           f"{plural(count, 'Python source')} read with ast",
                           "use of exec/eval/compile or computed imports")


@check("sources_inspectable")
def sources_inspectable(candidate: Candidate, context: Mapping[str, Any]) -> Any:
    archive = candidate.archive
    problems = [("compiled code without its source", name) for name in archive.names()
                if name.lower().endswith(BINARY_CODE_SUFFIXES)]
    sources = [n for n in archive.names() if n.endswith(".py")]
    for name in sources:
        try:
            archive.read(name).decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append((f"source is not UTF-8 text: {exc.reason} at byte {exc.start}", name))
    return judge(problems, f"{plural(len(archive.names()), 'member')} listed: {plural(len(sources), 'Python source')} "
                 "readable as UTF-8 text, no compiled code (.pyc, .so, .pyd, .dll) shipped")
