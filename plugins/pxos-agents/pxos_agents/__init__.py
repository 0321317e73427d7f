"""pxos-agents: agents, decision memory, a durable task queue, the coaching loop and ``serve``."""

__version__ = "0.1.0"
