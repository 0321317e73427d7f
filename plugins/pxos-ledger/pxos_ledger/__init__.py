"""pxos-ledger: SQL ledger sinks and the ledger's query, replay, proof, picture and snapshot tools.

The kernel builds, chains and verifies records (``pxos_kernel.ledger``); this
package persists them in SQLite or PostgreSQL and reads them back in useful ways.
"""

__version__ = "0.1.0"
