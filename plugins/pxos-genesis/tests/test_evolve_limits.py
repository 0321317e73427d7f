"""The pipeline's refusals and limits: unsafe patches, patches that do not apply, in-flight, size, time."""

import pytest
import yaml

from conftest import EXAMPLES
from pxos_kernel.errors import PxosError
from pxos_genesis.evolve.build import build
from pxos_genesis.evolve.patches import PatchError
from pxos_genesis.evolve.proposals import propose
from pxos_genesis.evolve.workspace import LimitExceeded, Limits, Workspace


def configure(kernel, **genesis):
    (kernel.home / "config.yaml").write_text(yaml.safe_dump({"genesis": genesis}))
    kernel.__dict__.pop("config", None)  # re-read on next use


def human_proposal(kernel, patch_text=None, name="improve"):
    path = kernel.home / "p.patch"
    path.write_text(patch_text or (EXAMPLES / "patches" / f"{name}.patch").read_text())
    return propose(kernel, goal="g", cartridge="wordcount", patch_file=str(path), reason="r", author="alice")


def test_unsafe_patch_is_refused_before_it_reaches_the_ledger(pxos_kernel, make_cartridge):
    make_cartridge()
    before = pxos_kernel.ledger.head()["seq"]
    with pytest.raises(PatchError, match="leaves the cartridge tree"):
        human_proposal(pxos_kernel, "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n")
    assert pxos_kernel.ledger.head()["seq"] == before


def test_human_patch_needs_reasoning(pxos_kernel, make_cartridge):
    make_cartridge()
    with pytest.raises(PxosError, match="--reason"):
        propose(pxos_kernel, goal="g", cartridge="wordcount", patch_file=str(EXAMPLES / "patches" / "improve.patch"))


def test_a_patch_that_does_not_apply_registers_nothing(pxos_kernel, make_cartridge):
    make_cartridge()
    record = human_proposal(pxos_kernel, (EXAMPLES / "patches" / "improve.patch").read_text()
                            .replace("-    if not text:", "-    if text is None:"))
    result = build(pxos_kernel, record["id"])
    assert not result.registered and result.status == "refused" and "does not apply" in result.error
    logged = pxos_kernel.ledger.find(result.ledger_id)["payload"]
    assert logged["proposal"] == record["id"] and "does not apply" in logged["error"]
    assert not any((pxos_kernel.home / "genesis" / "workspaces").glob("wordcount-*"))  # workspace released


def test_experiments_in_flight_are_limited(pxos_kernel):
    limits = Limits(max_in_flight=1)
    first = Workspace.claim(pxos_kernel, "wordcount", limits)
    with pytest.raises(LimitExceeded, match="1 experiment"):
        Workspace.claim(pxos_kernel, "wordcount", limits)
    first.release()
    Workspace.claim(pxos_kernel, "wordcount", limits).release()


def test_workspace_size_and_build_time_are_limited(pxos_kernel, make_cartridge):
    make_cartridge()
    configure(pxos_kernel, workspace_mb=0.001)
    result = build(pxos_kernel, human_proposal(pxos_kernel)["id"])
    assert not result.registered and "genesis.workspace_mb" in result.error
    configure(pxos_kernel, build_timeout=0.000001)
    result = build(pxos_kernel, human_proposal(pxos_kernel)["id"])
    assert not result.registered and "genesis.build_timeout" in result.error


def test_bad_limits_are_a_config_error(pxos_kernel):
    configure(pxos_kernel, max_in_flight=0)
    with pytest.raises(PxosError, match="must be positive"):
        Limits.from_kernel(pxos_kernel)
