"""Cartridges through the explorer: lineage, versions, diffs, and promote/rollback as the CLI does them."""

from __future__ import annotations

import threading

from conftest import Server


def current(server: Server) -> str:
    _, data = server.json("/api/cartridges/greeter")
    return data["current"]


def test_lineage_versions_and_their_reports(server):
    status, data = server.json("/api/cartridges/greeter")
    assert status == 200 and [n["version"] for n in data["nodes"]] == ["1.0.0", "1.1.0"]
    assert data["edges"] == [{"from": "1.0.0", "to": "1.1.0"}]
    _, version = server.json("/api/cartridges/greeter/versions/1.1.0")
    assert version["lineage"] == ["1.0.0", "1.1.0"] and version["record"]["tests"]["passed"]
    assert {m["path"] for m in version["members"]} >= {"cartridge.yaml", "greeter/cli.py"}
    assert version["record"]["tests"]["guardrails"]["items"]  # the genesis report of the version
    assert server.json("/api/cartridges/nothing")[0] == 404


def test_a_diff_between_two_versions(server):
    status, diff = server.json("/api/cartridges/greeter/diff?a=1.0.0&b=1.1.0")
    assert status == 200
    changed = {m["path"]: m for m in diff["members"]}
    assert set(changed) == {"cartridge.yaml", "greeter/cli.py", "tests/test_greeter.py"}
    assert any(line.startswith("+") and "Hi there" in line for line in changed["greeter/cli.py"]["diff"])
    assert any(line.startswith("-") and "Hello" in line for line in changed["greeter/cli.py"]["diff"])
    assert any("1.1.0" in line for line in diff["manifest"])
    assert server.json("/api/cartridges/greeter/diff?a=1.0.0")[0] == 400


def test_promote_and_rollback_need_a_name_and_a_reason(server):
    before = current(server)
    for body, words in (({"version": "1.1.0", "reason": "why"}, "name of the person"),
                        ({"version": "1.1.0", "approved_by": "  ", "reason": "why"}, "name of the person"),
                        ({"version": "1.1.0", "approved_by": "alice"}, "needs a reason"),
                        ({"approved_by": "alice", "reason": "why"}, "needs the version")):
        code, answer = server.json("/api/cartridges/greeter/promote", method="POST", body=body)
        assert code == 400 and words in answer["error"], answer
    code, answer = server.json("/api/cartridges/greeter/rollback", method="POST", body={"approved_by": "bob"})
    assert code == 400 and "reason" in answer["error"]
    assert current(server) == before


def test_two_browsers_promoting_at_once_one_wins(server):
    assert current(server) == "1.0.0"
    results = []
    body = {"version": "1.1.0", "approved_by": "alice", "reason": "friendlier", "expected_current": "1.0.0"}
    barrier = threading.Barrier(2)

    def promote():
        barrier.wait()
        results.append(server.json("/api/cartridges/greeter/promote", method="POST", body=body))

    threads = [threading.Thread(target=promote) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(code for code, _ in results) == [200, 409]
    refused = next(answer for code, answer in results if code == 409)
    assert "1.1.0" in refused["error"]
    won = next(answer for code, answer in results if code == 200)
    assert won["record"]["status"] == "current" and won["history"]["by"] == "human:alice"
    _, record = server.json(f"/api/ledger/records/{won['history']['ledger_id']}")
    assert record["record"]["corridor"] == "DISTRICT_5.CHAMBER_CARTRIDGE.NODE_PROMOTE"  # the CLI's own record
    # a page that still shows 1.0.0 as current may not roll back what it has not seen
    code, answer = server.json("/api/cartridges/greeter/rollback", method="POST",
                               body={"approved_by": "bob", "reason": "x", "expected_current": "1.0.0"})
    assert code == 409 and "somebody else" in answer["error"]
    code, answer = server.json("/api/cartridges/greeter/rollback", method="POST",
                               body={"approved_by": "bob", "reason": "back to the old greeting",
                                     "expected_current": "1.1.0"})
    assert code == 200 and current(server) == "1.0.0"
    assert answer["history"]["action"] == "rollback" and answer["history"]["outcome"] == "done"


def test_promoting_the_current_version_is_refused_by_the_registry(server):
    code, answer = server.json("/api/cartridges/greeter/promote", method="POST",
                               body={"version": "1.0.0", "approved_by": "alice", "reason": "again"})
    assert code == 409 and "already the current version" in answer["error"]
    _, data = server.json("/api/cartridges/greeter")
    assert data["history"][0]["outcome"] == "refused"  # recorded, as the CLI records refusals
