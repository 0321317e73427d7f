"""With every plugin installed: all of them load, and start-up stays light (no numpy, no Pillow)."""

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("numpy", "PIL")
PROBE = """
import sys, runpy
sys.argv = ['pxos-kernel', *sys.argv[1:]]
try:
    runpy.run_module('pxos_kernel', run_name='__main__')
except SystemExit:
    pass
print('HEAVY:', sorted({m.split('.')[0] for m in sys.modules} & set(%r)), file=sys.stderr)
""" % (HEAVY,)


def pxos(home, *argv):
    return subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PXOS_HOME": str(home)})


def test_every_plugin_the_world_expects_loads_cleanly(pxos_home):
    from pxos_kernel.config import load_world

    report = json.loads(pxos(pxos_home, "plugins", "--json").stdout)
    loaded = {p["distribution"]: p for p in report["plugins"] if p["loaded"]}
    for distribution in load_world(pxos_home, {}).expects:
        assert distribution in loaded, f"{distribution} is not installed or failed to load"
        assert not loaded[distribution]["errors"], loaded[distribution]["errors"]
    assert report["problems"] == []


@pytest.mark.parametrize("argv", [["--help"], ["plugins"], ["inspect"], ["run", "hello"]])
def test_cli_does_not_import_numpy_or_pillow(pxos_home, argv):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PXOS_HOME": str(pxos_home)})
    assert "HEAVY: []" in done.stderr, done.stderr[-2000:]
