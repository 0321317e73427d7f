import pytest

from pxos_genesis.checks.sourcescan import scan_source


def kinds(source, allowed=()):
    return sorted({(f.kind, f.line) for f in scan_source(source, "m.py", allowed)})


@pytest.mark.parametrize("source", [
    "import socket",
    "import urllib.request as r",
    "from urllib import request",
    "from http.client import HTTPSConnection",
    "import requests",
    "import openai",
    "__import__('socket')",
    "import importlib\nimportlib.import_module('http.client')",
])
def test_network_imports_are_found(source):
    assert any(kind == "network-import" for kind, _ in kinds(source))


@pytest.mark.parametrize("source", [
    "import socket as s\ns.create_connection(('example.com', 80))",
    "import urllib.request\nurllib.request.urlopen('http://x')",
    "from urllib.request import urlopen\nurlopen('http://x')",
    "import requests as rq\nrq.get('http://x')",
    "import asyncio\nasyncio.open_connection('x', 1)",
    "import subprocess\nsubprocess.run(['curl', 'http://x'])",
    "import os\nos.system('wget http://x')",
])
def test_network_calls_are_found(source):
    assert ("network-call", len(source.splitlines())) in kinds(source)


@pytest.mark.parametrize("source", [
    "exec('print(1)')", "eval(input())", "compile('x', 'f', 'exec')",
    "import importlib\nimportlib.import_module(name)", "__import__(''.join(['so', 'cket']))",
])
def test_hidden_code_is_found(source):
    assert any(kind == "hidden-code" for kind, _ in kinds(source))


def test_ordinary_code_is_clean():
    source = ("import json, os, subprocess\nfrom collections import Counter\n"
              "def f(x):\n    subprocess.run(['ls'])\n    return json.dumps(Counter(x))\n")
    assert kinds(source) == []


def test_consented_clients_are_allowed_and_unparsable_sources_reported():
    assert kinds("import openai\nopenai.OpenAI()", allowed=("openai",)) == []
    assert kinds("def broken(:\n") == [("unparsable", 1)]
