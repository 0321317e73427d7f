"""pxos-ledger with the kernel's hypervisor: runs land in the sqlite ledger and can be queried, proven, replayed."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("pxos_ledger")


def test_runs_are_recorded_queried_and_proven(pxos_home, pxos_cli, tmp_path):
    (pxos_home / "config.yaml").write_text("defaults:\n  sink: sqlite\n")
    for _ in range(2):
        code, _, err = pxos_cli("run", "hello")
        assert code == 0, err
    code, out, _ = pxos_cli("ledger", "query", "--type", "RUN", "--corridor", "DISTRICT_4.CHAMBER_EXEC", "--json")
    runs = json.loads(out)
    assert [r["corridor"].rsplit(".", 1)[1] for r in runs] == ["NODE_PRE", "NODE_POST"] * 2
    assert (pxos_home / "ledger" / "ledger.sqlite").exists()
    head = tmp_path / "head.json"
    assert pxos_cli("ledger", "seal", "-o", str(head))[0] == 0
    assert pxos_cli("ledger", "prove", runs[1]["id"], "--head", str(head), "-o", str(tmp_path / "p.json"))[0] == 0
    code, out, _ = pxos_cli("ledger", "check-proof", str(tmp_path / "p.json"), "--json")
    assert code == 0 and json.loads(out)["ok"]
    code, out, _ = pxos_cli("ledger", "replay", "--json")
    assert json.loads(out)["state"]["counts"]["by_type"]["RUN"] == 4


def test_the_cli_does_not_load_pillow_or_psycopg_for_a_query(pxos_home, pxos_cli):
    (pxos_home / "config.yaml").write_text("defaults:\n  sink: sqlite\n")
    for name in [m for m in sys.modules if m.split(".")[0] in ("PIL", "psycopg")]:
        del sys.modules[name]
    assert pxos_cli("ledger", "query", "--json")[0] == 0
    assert not [m for m in sys.modules if m.split(".")[0] in ("PIL", "psycopg")]
