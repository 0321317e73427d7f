"""Shared by the explorer benchmarks: start ``pxos-kernel explore`` on a PXOS_HOME and talk to it."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _timing import child_env


class Explorer:
    """A running explorer process: ``host``, ``port``, ``token``; ``get(path)`` over one keep-alive connection."""

    def __init__(self, home: Path) -> None:
        env = {k: v for k, v in child_env().items() if not k.startswith("PXOS_")}
        env["PXOS_HOME"] = str(home)
        self.process = subprocess.Popen([sys.executable, "-m", "pxos_kernel", "explore", "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            found = re.search(r"http://([^:/\s]+):(\d+)/\?token=(\S+)", line)
            if found:
                self.host, self.port, self.token = found.group(1), int(found.group(2)), found.group(3)
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                return
            if not line:
                break
        self.process.kill()
        raise SystemExit("the explorer did not start")

    def get(self, path: str, connection: http.client.HTTPConnection | None = None,
            headers: dict | None = None) -> tuple[int, bytes, dict]:
        conn = connection or self.connection
        conn.request("GET", path, headers={"X-Pxos-Token": self.token, **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())

    def stop(self) -> None:
        self.connection.close()
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
