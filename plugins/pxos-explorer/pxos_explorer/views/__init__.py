"""The explorer's views. Each is a class with ``routes()``: its page paths and its JSON endpoints."""

from __future__ import annotations

from typing import Any


def all_views(app: Any) -> list:
    from pxos_explorer.views.cartridges import CartridgesView
    from pxos_explorer.views.ledger import LedgerView
    from pxos_explorer.views.models import ModelsView
    from pxos_explorer.views.storage import StorageView
    from pxos_explorer.views.system import SystemView

    return [LedgerView(app), CartridgesView(app), StorageView(app), ModelsView(app), SystemView(app)]
