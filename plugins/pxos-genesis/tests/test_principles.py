import pytest

from pxos_kernel.errors import ConfigError
from pxos_genesis.checks import all_checks
from pxos_genesis.principles import load_items, must_items, parse


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
