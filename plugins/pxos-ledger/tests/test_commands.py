"""The ledger commands, through the real CLI, on a sqlite-backed PXOS_HOME."""

from __future__ import annotations

import json
import tarfile

import pytest
from PIL import Image

from pxos_kernel import Kernel


@pytest.fixture
def filled(sqlite_cli, pxos_home):
    """Eight records from two agents across three districts; returns (cli, records)."""
    with Kernel(pxos_home) as kernel:
        made = [
            kernel.checkpoint("RUN", "build", {"status": "ok", "stage": {"n": 1}}, corridor="DISTRICT_1.CHAMBER_0.NODE_PRE", agent="ci"),
            kernel.checkpoint("RUN", "build", {"status": "failed"}, corridor="DISTRICT_1.CHAMBER_0.NODE_POST", agent="ci"),
            kernel.checkpoint("STATE", "set", {"set": {"mode": "a", "x": 1}}, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_PRE"),
            kernel.checkpoint("STATE", "set", {"set": {"mode": "b"}, "unset": ["x"]}, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST"),
            kernel.checkpoint("DEPLOY", "publish", {"target": "edge"}, corridor="DISTRICT_5.CHAMBER_DEPLOY.NODE_EDGE_PRE", agent="ci"),
            kernel.checkpoint("STATE", "set", {"set": {"mode": "c"}}, corridor="DISTRICT_40.CHAMBER_X.NODE_Y"),
            kernel.checkpoint("RUN", "test", {"status": "ok"}, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_PRE", agent="ci"),
            kernel.checkpoint("STATE", "set", {"set": {"mode": "d"}}, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST"),
        ]
    return sqlite_cli, made


def _pngcheck(path):
    import subprocess

    from pxos_kernel.testing import require_system_package

    done = subprocess.run([require_system_package("pngcheck", "pngcheck"), str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and "OK" in done.stdout, done.stdout + done.stderr


def _json(cli, *argv):
    code, out, err = cli(*argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_query_filters(filled):
    cli, made = filled
    seqs = lambda *argv: [r["seq"] for r in _json(cli, "ledger", "query", *argv)]  # noqa: E731
    assert seqs() == list(range(1, 9))
    assert seqs("--agent", "ci") == [1, 2, 5, 7]
    assert seqs("--type", "STATE") == [3, 4, 6, 8]
    assert seqs("--type", "RUN", "--type", "DEPLOY") == [1, 2, 5, 7]
    assert seqs("--corridor", "DISTRICT_4") == [3, 4, 7, 8]  # not DISTRICT_40
    assert seqs("--corridor", "DISTRICT_4.CHAMBER_EXEC.NODE_PRE") == [3, 7]
    assert seqs("--op", "build") == [1, 2]
    assert seqs("--where", "status=ok") == [1, 7]
    assert seqs("--where", "stage.n=1") == [1]
    assert seqs("--since", made[3]["ts"], "--until", made[5]["ts"]) == [4, 5, 6]
    assert seqs("--id", made[4]["id"]) == [5]
    assert seqs("--from", "6", "-n", "2") == [6, 7]
    code, out, _ = cli("ledger", "query")
    assert code == 0 and made[0]["id"] in out


def test_show_prints_whole_records(filled):
    cli, made = filled
    assert _json(cli, "ledger", "show", made[2]["id"]) == [made[2]]
    code, out, _ = cli("ledger", "show", made[2]["id"])
    assert code == 0 and json.loads(out) == made[2]


def test_replay_to_a_point_and_fork(filled, pxos_home):
    cli, made = filled
    full = _json(cli, "ledger", "replay")
    assert full["state"]["state"] == {"mode": "d"}
    assert full["state"]["counts"]["by_type"] == {"RUN": 3, "STATE": 4, "DEPLOY": 1}
    at = _json(cli, "ledger", "replay", "--to", made[2]["id"], "--reducer", "state")
    assert at == {"state": {"state": {"mode": "a", "x": 1}}, "records": 3, "last": made[2]["id"]}
    forked = _json(cli, "ledger", "replay", "--to", made[3]["id"], "--fork", "exp_1")
    branch = _json(cli, "ledger", "show", "--branch", "exp_1")
    assert len(branch) == 1 and branch[0]["id"] == forked["fork"]["first"]
    link = branch[0]["payload"]["parent"]
    assert link["id"] == made[3]["id"] and link["hash"] == made[3]["hash"]
    assert branch[0]["payload"]["state"]["state"] == {"mode": "b"}
    code, _, err = cli("ledger", "replay", "--fork", "exp_1")
    assert code != 0 and "already exists" in err
    assert len(_json(cli, "ledger", "query")) == 8  # the main ledger is untouched


def test_reducers_come_from_the_hook(filled, pxos_home):
    from pxos_kernel import hookimpl
    from pxos_ledger.reducers import Reducer, collect, replay

    class DeployCounter:
        @hookimpl
        def pxos_ledger_reducers(self):
            return Reducer("deploys", lambda n, r: n + 1, initial=0, types=("DEPLOY",))

    with Kernel(pxos_home) as kernel:
        kernel.plugins.pm.register(DeployCounter(), name="test-deploys")
        reducers = collect(kernel)
        assert {"counts", "state", "deploys"} <= set(reducers)
        assert replay(kernel.ledger.records(), reducers)["state"]["deploys"] == 1
    names = [r["name"] for r in _json(filled[0], "ledger", "reducers")]
    assert "counts" in names and "deploys" not in names


def test_prove_and_check_proof(filled, tmp_path):
    cli, made = filled
    head = tmp_path / "head.json"
    assert cli("ledger", "seal", "-o", str(head))[0] == 0
    for record in made:
        proof = tmp_path / f"{record['seq']}.json"
        assert cli("ledger", "prove", record["id"], "--head", str(head), "-o", str(proof))[0] == 0
        assert _json(cli, "ledger", "check-proof", str(proof))["ok"]
    data = json.loads((tmp_path / "3.json").read_text())
    for mutate in (lambda p: p["record"]["payload"].update(x=2), lambda p: p["path"].reverse(),
                   lambda p: p.update(leaf_index=1), lambda p: p["head"].update(root="0" * 64),
                   lambda p: p["path"].pop()):
        bad = json.loads(json.dumps(data))
        mutate(bad)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        code, out, _ = cli("ledger", "check-proof", str(tmp_path / "bad.json"), "--json")
        assert code == 1 and not json.loads(out)["ok"], mutate


def test_verify_head_catches_a_cut_tail(filled, pxos_home, tmp_path):
    cli, _ = filled
    head = tmp_path / "head.json"
    cli("ledger", "seal", "-o", str(head))
    assert _json(cli, "ledger", "verify", "--head", str(head))["head_check"]["ok"]
    import sqlite3

    db = sqlite3.connect(pxos_home / "ledger" / "ledger.sqlite")
    db.execute("DELETE FROM records WHERE seq >= 7")
    db.commit()
    db.close()
    code, out, _ = cli("ledger", "verify", "--head", str(head), "--json")
    report = json.loads(out)
    assert code == 1 and "truncated at the tail" in report["head_check"]["problem"]
    code, out, _ = cli("ledger", "verify", "--head", str(head))
    assert code == 1 and "truncated at the tail" in out


def test_render_draws_a_png_with_broken_records_in_red(filled, pxos_home, tmp_path):
    cli, made = filled
    out = tmp_path / "ledger.png"
    drawn = _json(cli, "ledger", "render", "-o", str(out))
    assert drawn["broken"] == 0 and drawn["records"] == 8
    with Image.open(out) as image:
        image.verify()
    _pngcheck(out)
    import sqlite3

    db = sqlite3.connect(pxos_home / "ledger" / "ledger.sqlite")
    body = json.loads(db.execute("SELECT body FROM records WHERE seq = 3").fetchone()[0])
    body["payload"] = {"set": {"mode": "evil"}}
    db.execute("UPDATE records SET body = ? WHERE seq = 3", (json.dumps(body),))
    db.commit()
    db.close()
    drawn = _json(cli, "ledger", "render", "-o", str(out))
    assert drawn["broken"] == 1 and drawn["first_broken"] == made[2]["id"]
    from pxos_ledger.render import CELL, GAP

    with Image.open(out) as image:
        third = image.convert("RGB").getpixel((GAP + 2 * (CELL + GAP) + 1, GAP + 3))
        first = image.convert("RGB").getpixel((GAP + 1, GAP + 3))
    assert third == (220, 20, 20) and first != third


def test_tokens_stream_and_cap(sqlite_cli, pxos_home):
    with Kernel(pxos_home) as kernel:
        small = kernel.checkpoint("STATE", "s", {"player": {"x": 100, "jumping": False, "name": "rex", "v": 1.5}})
        big = kernel.checkpoint("STATE", "s", {"items": list(range(3000))})
    code, out, _ = sqlite_cli("ledger", "tokens", small["id"])
    tokens = [json.loads(line) for line in out.splitlines()]
    assert [(t["token"], t["type"]) for t in tokens[:6]] == [
        ("{", "structure"), ("player", "identifier"), (":", "operator"), ("{", "structure"),
        ("jumping", "identifier"), (":", "operator")]
    assert {t["type"] for t in tokens} == {"structure", "identifier", "operator", "number", "string", "literal"}
    assert [t["pos"] for t in tokens] == list(range(len(tokens)))
    capped = _json(sqlite_cli, "ledger", "tokens", big["id"])
    assert capped["truncated"] and len(capped["tokens"]) == 4097
    marker = capped["tokens"][-1]
    assert marker["type"] == "marker" and marker["total_tokens"] == 6005 and marker["omitted_tokens"] == 6005 - 4096  # { items : [ 3000 numbers, 2999 commas ] }


def test_grid_writes_json_and_png(sqlite_cli, pxos_home, tmp_path):
    with Kernel(pxos_home) as kernel:
        record = kernel.checkpoint("STATE", "s", {f"k{i}": i for i in range(10)})
    result = _json(sqlite_cli, "ledger", "grid", record["id"], "-o", str(tmp_path / "g"))
    grid = json.loads((tmp_path / "g" / "pixel_grid.json").read_text())["state_space_grid"]
    assert grid["dimensions"] == {"width": 800, "height": 200} and result["regions"] == 10
    assert grid["pixel_states"]["k9"] == {**grid["pixel_states"]["k9"], "x": 100, "y": 100, "state": "9"}
    with Image.open(tmp_path / "g" / "pixel_grid.png") as image:
        assert image.size == (800, 200)
    _pngcheck(tmp_path / "g" / "pixel_grid.png")


def test_snapshots_full_incremental_token_pixel(sqlite_cli, tmp_path):
    src = tmp_path / "project"
    src.mkdir()
    (src / "a.txt").write_text("one")
    (src / "b.txt").write_text("two")
    out = tmp_path / "out"
    full = _json(sqlite_cli, "ledger", "snapshot", str(src), "--type", "full", "-o", str(out))
    assert full["type"] == "SNAPSHOT" and full["payload"]["entries"] == 2
    for name in ("metadata/state_inventory.json", "token_pixels/state_tokens.jsonl",
                 "token_pixels/pixel_grid.json", "checkpoint_manifest.json"):
        assert (out / ".checkpoint" / name).is_file(), name
    with tarfile.open(full["payload"]["archive"]) as tar:
        assert ".checkpoint/checkpoint_manifest.json" in tar.getnames()
    (src / "b.txt").write_text("TWO")
    (src / "a.txt").unlink()
    (src / "c.txt").write_text("three")
    inc = _json(sqlite_cli, "ledger", "snapshot", str(src), "--type", "incremental", "-o", str(out))
    assert inc["payload"]["base"] == full["id"]
    inventory = json.loads((out / ".checkpoint" / "metadata" / "state_inventory.json").read_text())
    assert sorted(inventory["entries"]) == ["b.txt", "c.txt"] and inventory["removed"] == ["a.txt"]
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"player": {"x": 1}, "score": 3}))
    tp = _json(sqlite_cli, "ledger", "snapshot", str(state), "--type", "token_pixel", "-o", str(tmp_path / "o2"))
    assert tp["payload"]["kind"] == "state" and tp["payload"]["tokens"] > 5
    assert _json(sqlite_cli, "ledger", "verify")["ok"]


def test_incremental_refuses_a_changed_previous_archive(sqlite_cli, tmp_path):
    src = tmp_path / "s.json"
    src.write_text('{"a": 1}')
    full = _json(sqlite_cli, "ledger", "snapshot", str(src), "--type", "full", "-o", str(tmp_path / "o"))
    with open(full["payload"]["archive"], "ab") as archive:
        archive.write(b"tampered")
    code, _, err = sqlite_cli("ledger", "snapshot", str(src), "--type", "incremental", "-o", str(tmp_path / "o"))
    assert code != 0 and "does not match the sha256" in err
