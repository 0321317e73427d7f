"""pxos-genesis: the Genesis principles as guardrails, and a sandboxed evolution pipeline.

* :mod:`pxos_genesis.principles` reads ``pxos_genesis/genesis.yaml`` (the twelve
  principles, each MUST item with an id like ``G1.2``).
* :mod:`pxos_genesis.guardrails` turns every MUST item into one kernel
  guardrail; items no machine can judge answer ``unchecked``.
* :mod:`pxos_genesis.evolve` proposes, builds, tests and registers new
  cartridge versions, and never promotes one by itself.
"""

__version__ = "0.1.0"
