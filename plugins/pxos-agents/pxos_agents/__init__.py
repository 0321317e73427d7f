"""pxos-agents: agents, decision memory, a durable task queue, the coaching loop and ``serve``.

Public API (other plugins may use these, declaring pxos-agents as a dependency):

* :func:`accepted_proposal` -- the proposal the coach accepted for a task,
  with the model's reasoning and the diff (``evolve propose --from-task``).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["accepted_proposal"]


def accepted_proposal(kernel: Any, task_id: int) -> Any:
    """The :class:`~pxos_kernel.interfaces.Proposal` the coach accepted for queue task ``task_id``."""
    from pxos_agents.coach import accepted_proposal as find

    return find(kernel, task_id)
