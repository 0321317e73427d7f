import json

import pytest

from conftest import report
from pxos_genesis.compliance import render
from pxos_genesis.principles import must_items


def test_one_guardrail_per_must_item(pxos_kernel):
    rails = pxos_kernel.registry("guardrail")
    ids = [i.id for i in must_items()]
    assert sorted(ids) == sorted(n for n in rails.names() if rails.owner(n) == "genesis")
    item = next(i for i in must_items() if i.id == "G8.1")
    rail = rails.get("G8.1")
    assert rail.principle == "G8" and rail.summary == item.text


def test_genesis_json_lists_every_item_and_claims_nothing_unchecked(pxos_cli):
    """With no cartridge named, genesis judges the system that runs: here the installed one, packed on the fly."""
    code, out, _ = pxos_cli("genesis", "--json")
    data = json.loads(out)
    assert code == 0 and len(data["items"]) == len(must_items())
    assert all(set(i) == {"id", "principle", "text", "status", "evidence"} for i in data["items"])
    by_id = {i["id"]: i for i in data["items"]}
    assert by_id["G4.1"]["status"] == "passed" and "run_program('hello'" in by_id["G4.1"]["evidence"]
    assert by_id["G8.1"]["status"] == "passed" and "declared use" in by_id["G8.1"]["evidence"]
    assert by_id["G2.2"]["status"] == "passed" and "distributions read statically" in by_id["G2.2"]["evidence"]
    assert by_id["G6.1"]["status"] == "unchecked" and "packed on the fly" in by_id["G6.1"]["evidence"]
    assert data["counts"]["failed"] == 0, data["violations"]
    assert by_id["G11.2"]["status"] == "unchecked" and "not machine-checkable" in by_id["G11.2"]["evidence"]
    assert data["compliant"] is False


def test_gpu_items_say_why_they_are_unchecked_without_the_gpu_engine(pxos_cli, monkeypatch):
    """Without pxos-pixellm-gpu, G5.x run nothing, so they claim nothing (the integration tests run them
    with the engine on lavapipe)."""
    monkeypatch.setenv("PXOS_DISABLE_PLUGINS", "pixellm-gpu")
    code, out, _ = pxos_cli("genesis", "--json")
    by_id = {i["id"]: i for i in json.loads(out)["items"]}
    for ident in ("G5.1", "G5.2", "G5.3"):
        assert by_id[ident]["status"] == "unchecked"
        assert "the pixellm-gpu inference engine is not installed" in by_id[ident]["evidence"]


def test_gpu_items_judge_the_system_not_a_cartridge(pxos_kernel, make_cartridge):
    make_cartridge()
    items = report(pxos_kernel, "wordcount@1.0.0")
    assert all(items[i]["status"] == "unchecked" and "not a cartridge" in items[i]["evidence"]
               for i in ("G5.1", "G5.2", "G5.3"))


def test_a_clean_registered_cartridge(pxos_kernel, make_cartridge):
    make_cartridge()
    items = report(pxos_kernel, "wordcount@1.0.0")
    statuses = {i: items[i]["status"] for i in items}
    for ident in ("G1.1", "G1.2", "G1.3", "G2.1", "G2.2", "G2.3", "G3.1", "G3.2", "G4.3", "G7.1", "G8.1", "G8.2",
                  "G8.3", "G9.1", "G11.3"):
        assert statuses[ident] == "passed", (ident, items[ident]["evidence"])
    assert statuses["G6.1"] == "failed" and "never run" in items["G6.1"]["violations"][0]  # not tested yet


def test_pixel_files_that_are_not_images_fail_section_1(pxos_kernel, make_cartridge):
    make_cartridge(edit=lambda tree: (tree / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n not really"))
    items = report(pxos_kernel, "wordcount")
    assert items["G1.1"]["status"] == "failed" and "not a decodable PNG" in items["G1.1"]["violations"][0]
    assert items["G1.3"]["status"] == "failed"


def _model(tree, tensor_length):
    from pxos_kernel.container import write_container

    write_container(tree / "model.pxi", bytes(range(64)), kind="model",
                    meta={"tensors": {"w": {"offset": 0, "length": tensor_length, "dtype": "uint8", "shape": [8]}}})


def test_model_weights_must_be_pixel_containers_that_load(pxos_kernel, make_cartridge):
    make_cartridge("1.0.0", edit=lambda tree: _model(tree, 64))
    make_cartridge("1.0.1", edit=lambda tree: _model(tree, 65))
    make_cartridge("1.0.2", edit=lambda tree: (tree / "weights.safetensors").write_bytes(b"\0" * 16))
    good = report(pxos_kernel, "wordcount@1.0.0")["G9.1"]
    assert good["status"] == "passed" and "1 model container" in good["evidence"]
    outside = report(pxos_kernel, "wordcount@1.0.1")["G9.1"]
    assert outside["status"] == "failed" and "outside" in outside["violations"][0]
    foreign = report(pxos_kernel, "wordcount@1.0.2")["G9.1"]
    assert foreign["status"] == "failed" and "non-pixel format" in foreign["violations"][0]


def test_undeclared_dependencies_and_missing_notes_fail(pxos_kernel, make_cartridge):
    def edit(tree):
        (tree / "wordcount" / "fast.py").write_text("import numpy\n")

    make_cartridge(edit=edit, notes="")
    items = report(pxos_kernel, "wordcount")
    assert items["G2.2"]["status"] == "failed" and "'numpy'" in items["G2.2"]["violations"][0]
    assert items["G7.1"]["status"] == "failed" and items["G3.2"]["status"] == "failed"


def test_dependencies_declared_in_the_manifest_may_be_imported(pxos_kernel, make_cartridge):
    def edit(tree):
        (tree / "wordcount" / "fast.py").write_text("import numpy\n")
        manifest = tree / "cartridge.yaml"
        manifest.write_text(manifest.read_text() + "dependencies: [numpy]\n")

    make_cartridge(edit=edit)
    item = report(pxos_kernel, "wordcount")["G2.2"]
    assert item["status"] == "passed" and "declared dependency (numpy)" in item["evidence"]


def test_a_damaged_stored_archive_fails_section_3(pxos_kernel, make_cartridge):
    from pxos_cartridge.registry import CartridgeRegistry

    make_cartridge()
    path = CartridgeRegistry(pxos_kernel).archive_path("wordcount")
    path.write_bytes(path.read_bytes()[:-10])
    items = report(pxos_kernel, None)
    assert items["G3.1"]["status"] == "failed" and "sha256" in items["G3.1"]["violations"][0]


def test_compliance_file_maps_every_must_item():
    empty = {"items": [], "counts": {}}
    text = render(empty, cartridge="x@1")
    for item in must_items():
        assert f"| {item.id} |" in text
    assert "**MISSING**" in text  # an item nobody answered is said to be missing, never passed
