"""The kernel's own commands, one module per group (their output helpers are :mod:`pxos_kernel.output`)."""
