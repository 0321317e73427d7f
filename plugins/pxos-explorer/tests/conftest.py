"""Fixtures: a PXOS_HOME full of real things, explorer servers on it, and headless Chromium.

The servers are real ``pxos-kernel explore`` processes on 127.0.0.1, read from
their printed URL and stopped at the end. The browser is Debian's Chromium and
its driver (installed with apt-get when missing), driven by Selenium.
Screenshots go to ``$PXOS_EXPLORER_SCREENSHOTS`` (default: a temporary
directory, printed at the end).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from populate import populate  # noqa: E402


@dataclass
class Server:
    """A running explorer: its base URL, its token and its PXOS_HOME."""

    base: str
    token: str
    home: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"

    def request(self, path: str, *, method: str = "GET", body: Any = None, token: Optional[str] = "header",
                headers: Optional[dict] = None) -> tuple[int, dict, bytes]:
        """``(status, headers, body)``; ``token``: "header", "query", None, or a wrong token string."""
        all_headers = dict(headers or {})
        if token == "header":
            all_headers["X-Pxos-Token"] = self.token
        elif token == "query":
            path += ("&" if "?" in path else "?") + f"token={self.token}"
        elif token is not None:
            all_headers["X-Pxos-Token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, path: str, **kw: Any) -> tuple[int, Any]:
        status, _, body = self.request(path, **kw)
        return status, json.loads(body)

    def alive(self) -> bool:
        return self.process.poll() is None and self.request("/static/app.css", token=None)[0] == 200


def start_server(home: Path, *extra: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PXOS_")}
    env["PXOS_HOME"] = str(home)
    process = subprocess.Popen([sys.executable, "-m", "pxos_kernel", "explore", "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"(http://[^/\s]+)/\?token=(\S+)", line)
        if found:
            return Server(found.group(1), found.group(2), home, process)
    process.kill()
    raise RuntimeError(f"the explorer did not print its URL: {''.join(lines)} {process.stderr.read()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    for stream in (server.process.stdout, server.process.stderr):
        stream.close()


@pytest.fixture(scope="session")
def home(tmp_path_factory) -> Path:
    """A PXOS_HOME with program runs, other records, two cartridge versions, objects and a map."""
    from pxos_kernel import Kernel

    root = tmp_path_factory.mktemp("explorer")
    path = root / "pxos-home"
    path.mkdir()
    with Kernel(path, env={"PXOS_HOME": str(path)}) as kernel:
        populate(kernel, root)
    return path


@pytest.fixture(scope="session")
def server(home) -> Iterator[Server]:
    running = start_server(home)
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    where = Path(os.environ.get("PXOS_EXPLORER_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="session")
def chrome(screenshots) -> Iterator[Any]:
    """Headless Chromium through Selenium, with the browser's console log readable."""
    from pxos_kernel.testing import require_system_package

    require_system_package("chromium", "chromium")
    driver_path = require_system_package("chromedriver", "chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1440,900", "--force-device-scale-factor=1", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)
    options.binary_location = require_system_package("chromium", "chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    print(f"\nexplorer screenshots: {screenshots}")


@pytest.fixture
def browser(chrome, server) -> Any:
    """The browser, signed in to the session's server, its console log emptied."""
    if not getattr(chrome, "_pxos_signed_in", None) == server.base:
        chrome.get(server.url)
        chrome._pxos_signed_in = server.base
    chrome.get_log("browser")
    return chrome
