"""Every command that prints a report has ``--json`` (issue 15's CLI conventions), with every plugin installed."""

from __future__ import annotations

import argparse

#: Commands without ``--json``, and why: what they print is not a report of a result.
WITHOUT_JSON = {
    "storage get": "prints the stored object's own bytes (like cat), or writes them with -o",
    "serve": "a server: it runs until stopped and answers HTTP",
    "explore": "a server: it runs until stopped and answers HTTP",
}


def test_every_command_that_prints_a_report_has_json(pxos_kernel):
    registry = pxos_kernel.registry("subcommand")
    missing = []
    for name in registry.names():
        parser = argparse.ArgumentParser(prog=name)
        command = registry.get(name)
        if command.configure_parser:
            command.configure_parser(parser)
        has_json = any("--json" in action.option_strings for action in parser._actions)
        if not has_json and name not in WITHOUT_JSON:
            missing.append(f"{name} ({pxos_kernel.plugins.info[registry.owner(name)].distribution})")
        assert not (has_json and name in WITHOUT_JSON), f"{name} has --json now: drop it from WITHOUT_JSON"
    assert missing == [], f"commands without --json: {', '.join(missing)}"
