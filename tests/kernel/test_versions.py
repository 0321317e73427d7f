"""VersionRegistry, the core of the cartridge and model registries: file, lock, store, history, promotion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pxos_kernel import GuardrailError, Kernel, NotFoundError, PxosError


def _authoring_example() -> dict:
    """The ``Things`` registry of docs/authoring.md's "Versioned registries", run as it is printed there."""
    guide = (Path(__file__).resolve().parents[2] / "docs" / "authoring.md").read_text(encoding="utf-8")
    code = re.search(r"## Versioned registries\n.*?```python\n(.*?)```", guide, re.S)
    assert code, "docs/authoring.md has no Versioned registries example"
    namespace: dict = {"__name__": "authoring_example"}
    exec(compile(code.group(1), "docs/authoring.md", "exec"), namespace)
    return namespace


Things = _authoring_example()["Things"]


@pytest.fixture
def things(tmp_path):
    return Things(tmp_path / "things")


@pytest.fixture
def blob(tmp_path):
    def write(text: str) -> Path:
        path = tmp_path / f"{text}.src"
        path.write_text(text)
        return path
    return write


def test_versions_move_experimental_current_superseded_and_back(things, blob):
    things.register(blob("one"), "x", "1")
    things.register(blob("two"), "x", "2", parent="1")
    assert things.current("x") is None
    assert things.promote("x@1")["status"] == "current"
    promoted = things.promote("x@2")
    assert promoted["promoted"]["replaced"] == "1" and things.get("x@1")["status"] == "superseded"
    assert things.rollback("x")["version"] == "1" and things.current("x")["version"] == "1"
    assert [r["version"] for r in things.lineage("x@2")] == ["1", "2"]
    assert [(h["action"], h["outcome"]) for h in things.history("x")] == [
        ("register", "done"), ("register", "done"), ("promote", "done"), ("promote", "done"), ("rollback", "done")]


def test_stored_objects_are_content_addressed_and_read_only(things, blob):
    record = things.register(blob("one"), "x", "1")
    stored = things._stored(record)
    assert stored == things.root / "objects" / record["sha256"][:2] / f"{record['sha256']}.bin"
    assert stored.read_text() == "one" and stored.stat().st_mode & 0o777 == 0o444
    assert things._store(blob("one"), record["sha256"]) == stored  # the same bytes again: the same file


def test_a_refusal_is_recorded_before_it_is_raised(things, blob):
    things.register(blob("one"), "x", "1", approved=False)
    with pytest.raises(GuardrailError, match=r"^promote of x@1 refused: not approved$"):
        things.promote("x@1")
    assert things.history()[-1]["outcome"] == "refused" and things.history()[-1]["detail"] == "not approved"
    assert things.get("x@1")["status"] == "experimental"


def test_a_tampered_object_blocks_promotion(things, blob):
    record = things.register(blob("one"), "x", "1")
    stored = things._stored(record)
    os.chmod(stored, 0o644)
    stored.write_text("changed")
    with pytest.raises(GuardrailError, match="the file of x@1 at .* no longer matches its sha256"):
        things.promote("x@1")


def test_versions_are_never_replaced_and_refs_are_checked(things, blob):
    things.register(blob("one"), "x", "1")
    with pytest.raises(PxosError, match="x@1 is already registered"):
        things.register(blob("two"), "x", "1")
    with pytest.raises(PxosError, match="version '-bad' is invalid"):
        things.register(blob("two"), "x", "-bad")
    with pytest.raises(PxosError, match="not both"):
        things.get("x@1", "1")
    with pytest.raises(NotFoundError, match=r"no thing named 'y' \(registered: x\)"):
        things.get("y")
    with pytest.raises(NotFoundError, match="thing 'x' has no current version"):
        things.get("x")
    with pytest.raises(PxosError, match="no current version to roll back from"):
        things.rollback("x")


@pytest.mark.parametrize("damage, problem", [
    (b"{not json", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (b'{"format": "other", "version": 1}', "format 'other' version 1 is not test-thing-registry 1"),
    (b'{"format": "test-thing-registry", "version": 1, "history": []}', "missing its things or history"),
    (b'{"format": "test-thing-registry", "version": 1, "history": [], "things": {"x": {"current": "9", '
     b'"versions": {}}}}', "x's current version '9' is not registered"),
])
def test_an_unparseable_file_is_refused_and_left_byte_identical(things, blob, damage, problem):
    things.register(blob("one"), "x", "1")
    things.path.write_bytes(damage)
    for attempt in (things.list, lambda: things.register(blob("two"), "x", "2"), lambda: things.promote("x@1")):
        with pytest.raises(PxosError) as caught:
            attempt()
        assert problem in str(caught.value) and "it was left untouched" in str(caught.value)
        assert "\n" not in str(caught.value)
        assert things.path.read_bytes() == damage


def test_each_attempt_is_checkpointed_to_the_ledger(tmp_path, blob):
    kernel = Kernel(tmp_path / "home")
    try:
        things = Things(tmp_path / "things", kernel)
        things.register(blob("one"), "x", "1", approved=False)
        with pytest.raises(GuardrailError):
            things.promote("x@1")
        records = [r for r in kernel.ledger.records() if r["type"] == "REGISTRY"]
        assert [r["op"] for r in records] == ["register", "promote"]
        assert [h["ledger_id"] for h in things.history()] == [r["id"] for r in records]
        assert kernel.ledger.verify().ok
    finally:
        kernel.close()


RACER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from test_versions import Things
    from pxos_kernel import PxosError
    things, version, start = Things(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    while time.time() < start:
        time.sleep(0.001)
    try:
        things.promote("x@" + version, expected_current=None)  # each saw nothing current when it decided
    except PxosError as exc:
        print(exc)
""")


def test_concurrent_promotions_one_wins_and_the_history_keeps_every_attempt(things, blob):
    versions = [str(n) for n in range(6)]
    for version in versions:
        things.register(blob(f"v{version}"), "x", version)
    start = time.time() + 1.5
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(Path(__file__).parent), str(things.root), version,
                                str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for version in versions]
    refusals = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        refusals += out.splitlines()
    promotions = [h for h in things.history() if h["action"] == "promote"]
    assert len(promotions) == len(versions)  # no attempt lost to a concurrent rewrite
    assert [h["outcome"] for h in promotions].count("done") == 1 and len(refusals) == len(versions) - 1
    assert all("another promote won" in line for line in refusals)
    winner = next(h["version"] for h in promotions if h["outcome"] == "done")
    assert things.current("x")["version"] == winner
    assert sorted(r["status"] for r in things.list("x")) == ["current"] + ["experimental"] * (len(versions) - 1)
    assert json.loads(things.path.read_text())["format"] == "test-thing-registry"
