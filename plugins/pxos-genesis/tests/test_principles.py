import pytest

from pxos_kernel import ConfigError
from pxos_genesis.checks import all_checks
from pxos_genesis.principles import load_items, manifest_path, must_items, parse, render_table


def test_manifest_has_twelve_principles_and_each_must_item_is_judged_or_explained():
    items = load_items()
    assert sorted({i.principle for i in items}) == list(range(1, 13))
    assert len({i.id for i in items}) == len(items)
    checks = all_checks()
    for item in must_items():
        assert (item.check in checks) if item.check else item.why_unchecked, item.id
    assert {i.level for i in items} == {"must", "should", "may"}


def test_every_check_is_used_by_some_item():
    used = {i.check for i in must_items() if i.check}
    assert used == set(all_checks())


@pytest.mark.parametrize("item, problem", [
    ({"id": "G2.1", "level": "must", "text": "x", "check": None, "why_unchecked": "y"}, "must be G1.<n>"),
    ({"id": "G1.1", "level": "shall", "text": "x"}, "level 'shall'"),
    ({"id": "G1.1", "level": "must", "text": "x"}, "needs 'check'"),
    ({"id": "G1.1", "level": "must", "text": "x", "check": None}, "needs 'why_unchecked'"),
    ({"id": "G1.1", "level": "must", "text": " "}, "has no text"),
])
def test_bad_manifests_are_refused_naming_the_item(item, problem):
    with pytest.raises(ConfigError, match=problem):
        parse({"version": 1, "principles": [{"number": 1, "items": [item]}]}, "test.yaml")


def test_duplicate_ids_are_refused():
    item = {"id": "G1.1", "level": "should", "text": "x"}
    with pytest.raises(ConfigError, match="appears twice"):
        parse({"version": 1, "principles": [{"number": 1, "items": [item, item]}]}, "test.yaml")


def test_the_registration_table_is_the_shipped_manifest():
    from importlib.resources import files

    table = files("pxos_genesis").joinpath("must_items.py").read_text(encoding="utf-8")
    assert table == render_table(load_items(manifest_path({}))), \
        "pxos_genesis/must_items.py is stale: run python -m pxos_genesis.principles"


def test_a_manifest_named_by_pxos_genesis_is_what_gets_registered(tmp_path, monkeypatch):
    import yaml

    data = yaml.safe_load(manifest_path({}).read_text(encoding="utf-8"))
    data["principles"][0]["items"].append({"id": "G1.99", "level": "must", "text": "a requirement under review",
                                           "check": None, "why_unchecked": "new"})
    review = tmp_path / "genesis-next.yaml"
    review.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("PXOS_GENESIS", str(review))
    from pxos_genesis.guardrails import registrations

    rails = {rail.id: rail for rail in registrations()}
    assert rails["G1.99"].summary == "a requirement under review"
    assert rails["G1.99"].check(None, {}).status == "unchecked"
