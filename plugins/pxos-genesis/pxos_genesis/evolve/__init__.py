"""The evolution pipeline: propose a change, build it in a sandbox workspace, test, judge and register it.

Promotion is never done here: it stays a human decision
(``pxos-kernel cartridge promote NAME --approved-by WHO``).
"""

CORRIDOR_PROPOSE = "DISTRICT_7.CHAMBER_EVOLVE.NODE_PROPOSE"
CORRIDOR_BUILD = "DISTRICT_7.CHAMBER_EVOLVE.NODE_BUILD"
