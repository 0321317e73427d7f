"""The pipeline's limits: reasoning required, experiments in flight, workspace size, build time, config."""

import pytest
import yaml

from conftest import EXAMPLES
from pxos_kernel import PxosError
from pxos_genesis.evolve.build import build
from pxos_genesis.evolve.proposals import propose
from pxos_genesis.evolve.workspace import LimitExceeded, Limits, Workspace


def configure(kernel, **genesis):
    (kernel.home / "config.yaml").write_text(yaml.safe_dump({"genesis": genesis}))
    kernel.__dict__.pop("config", None)  # re-read on next use


def human_proposal(kernel, patch_text=None, name="improve"):
    path = kernel.home / "p.patch"
    path.write_text(patch_text or (EXAMPLES / "patches" / f"{name}.patch").read_text())
    return propose(kernel, goal="g", cartridge="wordcount", patch_file=str(path), reason="r", author="alice")


def test_human_patch_needs_reasoning(pxos_kernel, make_cartridge):
    make_cartridge()
    with pytest.raises(PxosError, match="--reason"):
        propose(pxos_kernel, goal="g", cartridge="wordcount", patch_file=str(EXAMPLES / "patches" / "improve.patch"))


def test_experiments_in_flight_are_limited(pxos_kernel):
    limits = Limits(max_in_flight=1)
    first = Workspace.claim(pxos_kernel, "wordcount", limits)
    with pytest.raises(LimitExceeded, match="1 experiment"):
        Workspace.claim(pxos_kernel, "wordcount", limits)
    first.finish(keep=False)
    Workspace.claim(pxos_kernel, "wordcount", limits).finish(keep=False)


def test_workspace_size_and_build_time_are_limited(pxos_kernel, make_cartridge):
    make_cartridge()
    configure(pxos_kernel, workspace_mb=0.001)
    result = build(pxos_kernel, human_proposal(pxos_kernel)["id"])
    assert not result.registered and result.status == "failed" and "genesis.workspace_mb" in result.reason
    configure(pxos_kernel, build_timeout=0.000001)
    result = build(pxos_kernel, human_proposal(pxos_kernel)["id"])
    assert not result.registered and "genesis.build_timeout" in result.reason


@pytest.mark.parametrize("setting", [{"max_in_flight": 0}, {"build_timeout": float("nan")},
                                     {"workspace_mb": float("inf")}, {"build_timeout": -1}])
def test_bad_limits_are_a_config_error(pxos_kernel, setting):
    configure(pxos_kernel, **setting)
    with pytest.raises(PxosError, match="must be positive"):
        Limits.from_kernel(pxos_kernel)
