"""Test support for pxOS and its plugins: fixtures, conformance suites and helpers.

Conformance suites are test classes a plugin subclasses, providing one fixture::

    from pxos_kernel.testing import StorageConformance

    class TestMyStore(StorageConformance):
        @pytest.fixture
        def storage(self, tmp_path):
            return MyStore(tmp_path)
"""

from pxos_kernel.testing.conformance import (  # noqa: F401
    AgentConformance,
    EngineConformance,
    SinkConformance,
    StorageConformance,
)
from pxos_kernel.testing.extra import add_plugin  # noqa: F401
from pxos_kernel.testing.system import require_sandbox, require_system_package  # noqa: F401
from pxos_kernel.testing.terminal import TerminalRun, run_on_terminal  # noqa: F401
from pxos_kernel.testing.venv import PluginVenv  # noqa: F401
