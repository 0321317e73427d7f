"""Credentials inside an agent's base_url are never printed or recorded."""

import json

from conftest import write_config

URL = "http://bob:hunter2@127.0.0.1:9/v1?api_key=sk-secret"


def test_agent_list_and_the_ledger_never_show_the_credentials(pxos_cli, pxos_home):
    write_config(pxos_home, {"agents": {"openai-compatible": {"base_url": URL, "ready_timeout": 0.5}},
                             "network": {"consent": ["127.0.0.1"]}})
    code, out, err = pxos_cli("agent", "list", "--json")
    assert code == 0 and "hunter2" not in out + err and "sk-secret" not in out + err
    assert "http://***@127.0.0.1:9/v1?api_key=***" in json.dumps(json.loads(out))
    ledger = (pxos_home / "ledger" / "ledger.jsonl")
    assert not ledger.exists() or "hunter2" not in ledger.read_text()
