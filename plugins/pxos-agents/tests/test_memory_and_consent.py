"""Decision memory keyed by ATOM ids, and per-host network consent in config.yaml."""

import pytest

from pxos_kernel import ConfigError, FormatError, NotFoundError, PxosError

from pxos_agents.consent import check_consent, grant, read_consent, revoke
from pxos_agents.memory import MemoryStore


def test_remembered_entries_carry_their_ledger_atom_id(kernel):
    store = MemoryStore(kernel)
    decision = store.remember("decision", "Use SQLite for the task queue", "durable, concurrent, stdlib",
                              agent="user")
    store.remember("result", "pixel containers compress well", "zlib at level 6", agent="pixellm-local")
    record = kernel.ledger.find(decision.atom_id)
    assert record["type"] == "DECISION" and record["payload"]["title"] == "Use SQLite for the task queue"
    assert [m.atom_id for m in store.search("which queue storage? sqlite")] == [decision.atom_id]
    assert store.search("zlib", kind="decision") == []
    assert store.show(decision.atom_id).body == "durable, concurrent, stdlib"
    with pytest.raises(NotFoundError):
        store.show("ATOM-DECISION-20260101-999999")
    with pytest.raises(PxosError):
        store.remember("guess", "t", "b", agent="x")
    store.close()
    assert MemoryStore(kernel).search("sqlite")[0].atom_id == decision.atom_id  # durable


def test_corrupt_memory_is_refused(kernel):
    path = kernel.state_dir("agents") / "memory.sqlite"
    path.write_bytes(b"\x00garbage" * 64)
    with pytest.raises(FormatError):
        MemoryStore(kernel)
    assert path.read_bytes() == b"\x00garbage" * 64


def test_consent_grant_revoke_and_refusal(pxos_home):
    with pytest.raises(PxosError, match="no network consent for host 127.0.0.1"):
        check_consent(pxos_home, "127.0.0.1", agent="a")
    assert grant(pxos_home, ["127.0.0.1", "API.Example.org"]) == ["127.0.0.1", "api.example.org"]
    check_consent(pxos_home, "api.example.org", agent="a")
    assert revoke(pxos_home, ["api.example.org"]) == ["127.0.0.1"]
    assert read_consent(pxos_home) == ["127.0.0.1"]
    with pytest.raises(ConfigError, match="not a host name"):
        grant(pxos_home, ["http://evil/"])


def test_unparsable_config_is_never_overwritten(pxos_home):
    config = pxos_home / "config.yaml"
    config.write_text("network: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        grant(pxos_home, ["127.0.0.1"])
    assert config.read_text() == "network: [unclosed\n"
