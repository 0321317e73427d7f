"""Hooks pxos-ledger adds for other plugins (registered through ``pxos_addhooks``)."""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("pxos")


@hookspec
def pxos_ledger_reducers():
    """Register reducers that ``ledger replay`` folds records through.

    Return one :class:`pxos_ledger.reducers.Reducer` or a list. ``fold(state, record)``
    returns the new state (a JSON-serialisable value) and must not mutate its input.
    Example::

        from pxos_ledger.reducers import Reducer

        @hookimpl
        def pxos_ledger_reducers():
            def fold(state, record):
                return state + 1 if record["type"] == "RUN" else state
            return Reducer("run-count", fold, initial=0, summary="how many programs ran")
    """
