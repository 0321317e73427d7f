"""The system view: ``plugins``, ``inspect`` (with the sandbox protections in force) and ``genesis``."""

from __future__ import annotations

from typing import Any

from pxos_explorer.http import Request, Route, json_response


class SystemView:
    """``/system`` and ``/api/system/...``: the same reports as the CLI commands of the same names."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.kernel = app.kernel

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/system", page=True),
            Route("GET", "/api/system/plugins", self.plugins),
            Route("GET", "/api/system/inspect", self.inspect),
            Route("POST", "/api/system/genesis", self.genesis),
        ]

    def plugins(self, request: Request) -> Any:
        """What ``pxos-kernel plugins --json`` prints."""
        plugins = self.kernel.plugins
        problems = plugins.collect_all()
        infos = sorted(plugins.info.values(), key=lambda i: (i.name != "kernel", i.name))
        return json_response({"plugins": [i.as_dict() for i in infos], "problems": problems})

    def inspect(self, request: Request) -> Any:
        """What ``pxos-kernel inspect --json`` prints: registries, world, ledger and sandbox protections."""
        return json_response(self.kernel.hypervisor.inspect_self())

    def genesis(self, request: Request) -> Any:
        """Run every guardrail, as ``pxos-kernel genesis`` does, and record it in the ledger as it does."""
        cartridge = request.json().get("cartridge") or None
        report = self.kernel.hypervisor.validate_genesis(cartridge, {"cartridge": cartridge})
        record = self.kernel.checkpoint("GENESIS", "validate_genesis", {
            "cartridge": cartridge, "counts": report["counts"], "compliant": report["compliant"]},
            corridor="DISTRICT_6.CHAMBER_GENESIS.NODE_VALIDATE", agent="explorer")
        return json_response({**report, "ledger_id": record["id"]})
