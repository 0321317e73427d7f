"""The explorer over HTTP: access, every JSON endpoint, and each bad input answered with a clear error."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
from conftest import start_server, stop_server

# -- access ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/ledger", "/api/ledger", "/api/ledger/status", "/api/storage",
                                  "/api/maps/infinitemap/tiles/0/0/0", "/api/models"])
def test_a_request_without_the_token_gets_403(server, path):
    status, headers, body = server.request(path, token=None)
    assert status == 403
    assert b"token" in body
    assert server.request(path, token="not-the-token")[0] == 403


def test_the_403_page_is_a_page_for_browsers_and_json_for_scripts(server):
    status, headers, body = server.request("/ledger", token=None, headers={"Accept": "text/html"})
    assert status == 403 and headers["Content-Type"].startswith("text/html") and b"pxos-kernel explore" in body
    status, headers, body = server.request("/api/ledger", token=None, headers={"Accept": "text/html"})
    assert status == 403 and json.loads(body)["status"] == 403


def test_the_printed_url_sets_a_cookie_and_drops_the_token_from_the_address(server):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(server.base + f"/ledger?token={server.token}&type=RUN", timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as redirect:
        assert redirect.code == 303
        assert redirect.headers["Location"] == "/ledger?type=RUN"
        cookie = redirect.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    name_value = cookie.split(";")[0]
    status, _, body = server.request("/api/ledger/status", token=None, headers={"Cookie": name_value})
    assert status == 200 and json.loads(body)["records"] > 0
    # a POST carried by the cookie alone could be forged by another site: refused
    status, _, body = server.request("/api/ledger/verify", method="POST", body={}, token=None,
                                     headers={"Cookie": name_value})
    assert status == 403 and b"X-Pxos-Token" in body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_other_host_names_are_refused(server):
    """A page on another site that resolves its name to 127.0.0.1 (DNS rebinding) gets nothing."""
    status, _, body = server.request("/api/ledger", headers={"Host": "evil.example:80"})
    assert status == 403 and b"host" in body


def test_static_assets_need_no_token_and_are_small(server):
    total = 0
    for name in ("app.js", "app.css", "favicon.svg"):
        status, headers, body = server.request(f"/static/{name}", token=None)
        assert status == 200
        total += len(body)
    assert total < 200_000


def test_a_non_loopback_host_needs_allow_remote(home):
    refused = subprocess.run([sys.executable, "-m", "pxos_kernel", "explore", "--host", "0.0.0.0", "--port", "0"],
                             capture_output=True, text=True, env={"PXOS_HOME": str(home), "PATH": "/usr/bin:/bin"},
                             timeout=60)
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and "Traceback" not in refused.stderr


def test_the_warning_names_the_risk(home):
    process = subprocess.Popen([sys.executable, "-m", "pxos_kernel", "explore", "--host", "0.0.0.0", "--port", "0",
                                "--allow-remote"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={"PXOS_HOME": str(home), "PATH": "/usr/bin:/bin"})
    try:
        assert "token=" in process.stdout.readline() + process.stdout.readline()
    finally:
        process.terminate()
        _, err = process.communicate(timeout=20)
    assert "WARNING" in err and "beyond this machine" in err


def test_the_port_is_free_and_chosen_by_the_system(server):
    port = int(server.base.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) == 0


# -- the ledger ----------------------------------------------------------------------------------------------


def test_ledger_pages_and_filters_match_ledger_query(server):
    status, page = server.json("/api/ledger?limit=5")
    assert status == 200 and page["order"] == "desc" and len(page["records"]) == 5
    seqs = [r["seq"] for r in page["records"]]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] == page["total"]
    status, runs = server.json("/api/ledger?type=RUN&limit=500")
    assert runs["records"] and all(r["type"] == "RUN" for r in runs["records"])
    cli = subprocess.run([sys.executable, "-m", "pxos_kernel", "ledger", "query", "--type", "RUN", "--json"],
                         capture_output=True, text=True, env={"PXOS_HOME": str(server.home), "PATH": "/usr/bin:/bin"},
                         check=True)
    assert [r["id"] for r in json.loads(cli.stdout)][::-1] == [r["id"] for r in runs["records"]]
    _, district = server.json("/api/ledger?corridor=DISTRICT_4&agent=kernel")
    assert district["total"] and all(r["corridor"].startswith("DISTRICT_4.") for r in district["records"])
    atom = runs["records"][0]["id"]
    _, one = server.json(f"/api/ledger?id={atom}")
    assert [r["id"] for r in one["records"]] == [atom]
    _, since = server.json("/api/ledger?since=2999-01-01")
    assert since["total"] == 0
    _, oldest = server.json("/api/ledger?order=asc&limit=3")
    assert [r["seq"] for r in oldest["records"]] == [1, 2, 3]


def test_the_first_page_is_read_from_the_ledgers_tail_and_judged_like_the_index(tmp_path, home, server):
    """A fresh explorer answers page 1 from the newest records before its index exists, with the same verdicts."""
    copy = tmp_path / "tail-home"
    (copy / "ledger").mkdir(parents=True)
    lines = (home / "ledger" / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    record = json.loads(lines[-3])
    record["payload"]["tampered"] = True
    lines[-3] = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
    (copy / "ledger" / "ledger.jsonl").write_bytes(b"".join(lines))
    fresh = start_server(copy)
    try:
        _, tail = fresh.json("/api/ledger?limit=5")
        assert tail["indexed"] is False and tail["total"] == len(lines)
        assert [r["seq"] for r in tail["records"]] == list(range(len(lines), len(lines) - 5, -1))
        assert [bool(r["problem"]) for r in tail["records"]] == [False, False, True, False, False]
        assert "hash" in tail["records"][2]["problem"] and tail["records"][2]["id"] == record["id"]
        _, settled = _settled_status(fresh)
        assert settled["index"]["state"] == "ready"
        _, indexed = fresh.json("/api/ledger?limit=5")
        assert indexed["indexed"] is True
        assert [(r["id"], r["problem"]) for r in indexed["records"]] == [(r["id"], r["problem"]) for r in tail["records"]]
    finally:
        stop_server(fresh)


def test_bad_filters_are_clear_400s(server):
    for query, words in (("corridor=NOWHERE", "corridor prefix"), ("since=yesterday", "ISO 8601"),
                         ("id=ATOM-BAD", "not an ATOM id"), ("limit=0", "out of range"), ("page=x", "not an integer")):
        status, body = server.json(f"/api/ledger?{query}")
        assert status in (400, 404) and words in body["error"], (query, body)


def test_a_record_has_canonical_json_tokens_and_a_grid(server):
    _, page = server.json("/api/ledger?type=STATE")
    atom = page["records"][0]["id"]
    status, data = server.json(f"/api/ledger/records/{atom}")
    assert status == 200 and data["record"]["id"] == atom
    assert json.loads(data["canonical"]) == data["record"]
    assert data["canonical"].startswith('{"agent":"game","corridor":')  # RFC 8785 key order
    assert {"identifier", "number", "structure"} <= {t["type"] for t in data["tokens"]}
    assert set(data["grid"]["state_space_grid"]["pixel_states"]) == {"n", "player", "tags", "ok"}
    status, headers, png = server.request(f"/api/ledger/records/{atom}/grid.png")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert server.json("/api/ledger/records/ATOM-RUN-20000101-999999")[0] == 404


def test_the_overview_is_ledger_render_and_its_cells_name_records(server):
    _, info = server.json("/api/ledger/overview")
    assert info["count"] == info["total"] and info["cell"] == 12
    status, _, png = server.request("/api/ledger/overview.png")
    assert status == 200 and png.startswith(b"\x89PNG")
    _, first = server.json("/api/ledger/at/0")
    assert first["seq"] == 1
    assert server.json(f"/api/ledger/at/{info['total']}")[0] == 404


def test_chain_status_is_the_kernels_verify(server):
    _, status = _settled_status(server)
    report = status["verify"]["report"]
    assert report["ok"] and report["records"] == status["records"]


def _settled_status(server):
    import time

    for _ in range(100):
        code, status = server.json("/api/ledger/status")
        if status["verify"]["state"] == "done" and status["verify"]["report"]["records"] == status["records"]:
            return code, status
        time.sleep(0.1)
    return code, status


def test_new_records_arrive_as_server_sent_events(server):
    _, status = server.json("/api/ledger/status")
    request = urllib.request.Request(f"{server.base}/api/ledger/events?after={status['records']}",
                                     headers={"X-Pxos-Token": server.token})
    events = []

    def listen():
        with urllib.request.urlopen(request, timeout=30) as stream:
            for raw in stream:
                line = raw.decode()
                if line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    subprocess.run([sys.executable, "-m", "pxos_kernel", "run", "hello", "--", "SSE"], check=True,
                   capture_output=True, env={"PXOS_HOME": str(server.home), "PATH": "/usr/bin:/bin"})
    listener.join(30)
    assert events and events[0]["type"] == "RUN" and events[0]["index"] == status["records"]


# -- storage and maps ----------------------------------------------------------------------------------------


def test_every_backend_is_listed_with_its_objects(server):
    _, data = server.json("/api/storage")
    schemes = {b["scheme"]: b for b in data["backends"]}
    assert schemes["pixelfs"]["objects"] == 2 and schemes["infinitemap"]["map"] is True
    _, objects = server.json("/api/storage/pixelfs")
    assert [o["key"] for o in objects["objects"]] == ["data/ramp.bin", "docs/notes.txt"]


def test_an_object_shows_its_own_pixels_and_downloads_whole(server):
    from io import BytesIO

    from PIL import Image

    _, info = server.json("/api/storage/pixelfs/objects/data/ramp.bin")
    status, _, png = server.request("/api/storage/pixelfs/picture/data/ramp.bin")
    picture = Image.open(BytesIO(png))
    assert status == 200 and picture.width == info["meta"]["width"]  # one screen pixel per object pixel
    assert picture.getpixel((0, 0)) == (0, 1, 2)  # the object's first three bytes
    status, headers, data = server.request("/api/storage/pixelfs/download/data/ramp.bin")
    assert status == 200 and data == bytes(range(256)) * 64 and headers["X-Pxos-Sha256"] == info["sha256"]
    status, verified = server.json("/api/storage/pixelfs/verify/data/ramp.bin", method="POST", body={})
    assert status == 200 and verified["ok"]


def test_an_object_that_is_not_a_pxos_container_is_a_clear_error(server):
    bad = server.home / "storage" / "pixelfs" / "junk" / "not-a-png.pxi"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"this is not a PNG at all\n")
    try:
        for path in ("/api/storage/pixelfs/objects/junk/not-a-png", "/api/storage/pixelfs/picture/junk/not-a-png",
                     "/api/storage/pixelfs/download/junk/not-a-png"):
            status, body = server.json(path)
            assert status == 422 and "not a PNG" in body["error"], body
        assert server.alive()
    finally:
        shutil.rmtree(bad.parent)


def test_the_map_describes_its_tiles_and_regions(server):
    status, data = server.json("/api/maps/infinitemap")
    assert status == 200 and data["tile_size"] == 256 and data["levels"] >= 2
    assert {r["key"] for r in data["regions"]} == {"greeting.txt", "noise.bin", "ramp.bin"}
    b = data["bounds"]
    assert (b["min_tx"], b["min_ty"]) == (-4, -2)  # the painted picture at (-1024, -512)


def test_tiles_are_built_on_demand_cached_and_shrink_level_by_level(server):
    from io import BytesIO

    from PIL import Image

    _, data = server.json("/api/maps/infinitemap")
    cache = server.home / "explorer" / "tiles" / "infinitemap" / data["version"]
    status, _, tile = server.request("/api/maps/infinitemap/tiles/1/-2/-1")
    assert status == 200 and Image.open(BytesIO(tile)).size == (256, 256)
    assert (cache / "1" / "-2_-1.png").read_bytes() == tile
    full = Image.open(BytesIO(server.request("/api/maps/infinitemap/tiles/0/-4/-2")[2]))
    assert full.getpixel((10, 10)) == (10 * 255 // 767, 10 * 255 // 511, 20)  # the painted gradient
    top = data["levels"] - 1
    assert server.request(f"/api/maps/infinitemap/tiles/{top}/-1/-1")[0] == 200


@pytest.mark.parametrize("address, status, words", [
    ("0/500/500", 404, "outside the map"), ("0/-5/0", 404, "outside the map"),
    ("99/0/0", 404, "beyond this map"), ("-1/0/0", 400, "negative"), ("0/x/0", 400, "three integers")])
def test_a_tile_outside_the_map_is_a_clear_error(server, address, status, words):
    code, body = server.json(f"/api/maps/infinitemap/tiles/{address}")
    assert code == status and words in body["error"]


def test_a_backend_without_a_map_says_so(server):
    code, body = server.json("/api/maps/pixelfs")
    assert code == 404 and "no map" in body["error"]


# -- models --------------------------------------------------------------------------------------------------


def test_the_tensor_directory_and_a_picture_per_tensor(server):
    _, engines = server.json("/api/models")
    assert "default" in engines["engines"][0]["models"]
    status, model = server.json("/api/models/pixellm/default")
    assert status == 200 and model["parameters"] > 3_000_000 and model["memory_needed"] < model["memory_available"]
    name = model["tensors"][0]["name"]
    status, _, png = server.request(f"/api/models/pixellm/default/tensors/{name}")
    assert status == 200 and png.startswith(b"\x89PNG")
    assert server.json("/api/models/pixellm/default/tensors/no.such.tensor")[0] == 404


def test_generate_streams_chunks_then_done(server):
    request = urllib.request.Request(f"{server.base}/api/models/generate", method="POST",
                                     data=json.dumps({"prompt": "def main():\n    ", "max_tokens": 40,
                                                      "seed": 3}).encode(),
                                     headers={"X-Pxos-Token": server.token, "Content-Type": "application/json"})
    events = []
    with urllib.request.urlopen(request, timeout=120) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        kind = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
    chunks = [data for kind, data in events if kind == "chunk"]
    assert len(chunks) > 1 and "".join(c["text"] for c in chunks)
    assert events[-1][0] == "done" and events[-1][1]["tokens"] <= 40


def test_a_model_too_big_for_memory_is_refused_before_loading(server):
    from pxos_kernel.container import write_container

    models = server.home / "inference" / "pixellm" / "models"
    models.mkdir(parents=True, exist_ok=True)
    huge = [{"name": "model.embed_tokens.weight", "shape": [1 << 20, 1 << 18], "dtype": "float16",
             "encoding": "fp16", "offset": 0, "length": 16, "scales": None}]
    write_container(models / "huge.pxi", bytes(16), kind="model", meta={"config": {}, "tensors": huge, "info": {}})
    try:
        code, body = server.json("/api/models/generate", method="POST", body={"model": "huge", "prompt": "x"})
        assert code == 507 and "too big" in body["error"] and "GiB" in body["error"]
        code, body = server.json("/api/models/pixellm/huge/tensors/model.embed_tokens.weight")
        assert code == 507
        assert server.alive()
    finally:
        (models / "huge.pxi").unlink()


@pytest.mark.parametrize("body, words", [({}, "prompt"), ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
                                         ({"prompt": "x", "temperature": "hot"}, "temperature"),
                                         ({"prompt": "x", "model": "nope"}, "nope")])
def test_bad_generate_requests_are_clear_errors(server, body, words):
    code, answer = server.json("/api/models/generate", method="POST", body=body)
    assert code in (400, 404) and words in answer["error"]


def test_a_body_that_is_not_json_is_a_400(server):
    request = urllib.request.Request(f"{server.base}/api/models/generate", method="POST", data=b"{not json",
                                     headers={"X-Pxos-Token": server.token})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400 and b"not JSON" in refused.value.read()
    assert server.alive()


# -- system ---------------------------------------------------------------------------------------------------


def test_plugins_inspect_and_genesis(server):
    _, plugins = server.json("/api/system/plugins")
    assert "explorer" in {p["name"] for p in plugins["plugins"]}
    _, inspect = server.json("/api/system/inspect")
    assert "no_network" in inspect["sandbox"] and "explore" in inspect["registries"]["subcommand"]
    status, genesis = server.json("/api/system/genesis", method="POST", body={})
    assert status == 200 and genesis["guardrails"] == len(genesis["items"]) and genesis["ledger_id"].startswith(
        "ATOM-GENESIS-")
    assert all(item["evidence"] for item in genesis["items"])


def test_unknown_paths_and_methods(server):
    assert server.json("/api/nothing-here")[0] == 404
    assert server.json("/api/ledger", method="POST", body={})[0] == 405
