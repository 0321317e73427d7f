"""The explorer in a real browser: headless Chromium, driven by Selenium, against a real server.

Every page is loaded and its console read; a page with an error in the
console fails. Each test saves a screenshot (the README shows them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import start_server, stop_server
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

PAGES = {
    "ledger": "/ledger",
    "ledger-filtered": "/ledger?type=RUN&agent=kernel",
    "cartridges": "/cartridges",
    "cartridge": "/cartridges/greeter",
    "storage": "/storage",
    "objects": "/storage/infinitemap",
    "object": "/storage/pixelfs/data/ramp.bin",
    "map": "/map/infinitemap",
    "models": "/models",
    "model": "/models/pixellm/default",
    "system": "/system",
}


def wait(browser, seconds=30):
    return WebDriverWait(browser, seconds)


def newest_record(home) -> dict:
    from pxos_kernel import Kernel

    with Kernel(home, env={"PXOS_HOME": str(home)}) as kernel:
        return kernel.ledger.head()


def errors_in_console(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def settle(browser) -> None:
    """Wait until the view has drawn (its heading is there) and its images have loaded."""
    wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "main h1").text not in ("", "Loading…"))
    wait(browser).until(lambda b: b.execute_script(
        "return [...document.images].every(i => i.complete || i.loading === 'lazy')"))
    time.sleep(0.3)


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_loads_without_console_errors(browser, server, screenshots, name):
    browser.get(server.base + PAGES[name])
    settle(browser)
    assert not browser.find_elements(By.CSS_SELECTOR, "main .error"), browser.find_element(By.TAG_NAME, "main").text
    browser.save_screenshot(str(screenshots / f"{name}.png"))
    assert errors_in_console(browser) == []


def test_the_ledger_record_page(browser, server, screenshots):
    _, page = server.json("/api/ledger?type=STATE")
    atom = page["records"][0]["id"]
    browser.get(f"{server.base}/ledger/{atom}")
    settle(browser)
    text = browser.find_element(By.TAG_NAME, "main").text
    assert atom in text and "verified" in text and '"corridor":"DISTRICT_2.CHAMBER_GAME.NODE_TICK"' in text
    assert browser.find_elements(By.CSS_SELECTOR, ".tok.identifier")
    browser.save_screenshot(str(screenshots / "record.png"))
    assert errors_in_console(browser) == []


def test_clicking_a_ledger_cell_opens_its_record(browser, server):
    _, info = server.json("/api/ledger/overview")
    target = 3
    _, expected = server.json(f"/api/ledger/at/{info['start'] + target}")
    browser.get(server.base + "/ledger")
    settle(browser)
    picture = browser.find_element(By.CSS_SELECTOR, ".overview img")
    scale = picture.size["width"] / browser.execute_script("return arguments[0].naturalWidth", picture)
    step = info["cell"] + info["gap"]
    x = (info["gap"] + (target % info["columns"]) * step + info["cell"] / 2) * scale
    y = (info["gap"] + (target // info["columns"]) * step + info["cell"] / 2) * scale
    ActionChains(browser).move_to_element_with_offset(picture, int(x - picture.size["width"] / 2),
                                                      int(y - picture.size["height"] / 2)).click().perform()
    wait(browser).until(ready.url_contains(expected["id"]))
    settle(browser)
    assert expected["id"] in browser.find_element(By.CSS_SELECTOR, "main h1").text
    assert errors_in_console(browser) == []


def test_the_overview_works_from_the_keyboard(browser, server):
    _, last = server.json("/api/ledger?limit=1")
    browser.get(server.base + "/ledger")
    settle(browser)
    picture = browser.find_element(By.CSS_SELECTOR, ".overview img")
    picture.send_keys(Keys.ARROW_LEFT)  # focus starts on the newest record; one to the left is the one before
    picture.send_keys(Keys.ENTER)
    before = last["records"][0]["seq"] - 1
    _, expected = server.json(f"/api/ledger?order=asc&limit=1&page={before}")
    wait(browser).until(ready.url_contains(expected["records"][0]["id"]))


def test_filters_in_the_form_filter_the_timeline(browser, server):
    browser.get(server.base + "/ledger")
    settle(browser)
    browser.find_element(By.ID, "f-type").send_keys("STATE")
    browser.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()
    wait(browser).until(ready.url_contains("type=STATE"))
    settle(browser)
    types = {td.text for td in browser.find_elements(By.CSS_SELECTOR, "main table tbody tr td:nth-child(3)")}
    assert types == {"STATE"}


def test_new_records_appear_live(browser, server):
    browser.get(server.base + "/ledger")
    settle(browser)
    time.sleep(0.5)  # the event source connects
    subprocess.run([sys.executable, "-m", "pxos_kernel", "run", "hello", "--", "live"], check=True, capture_output=True,
                   env={"PXOS_HOME": str(server.home), "PATH": "/usr/bin:/bin"})
    newest = newest_record(server.home)["id"]
    wait(browser).until(lambda b: newest in b.find_element(By.CSS_SELECTOR, "main table tbody tr").text)
    assert browser.find_elements(By.CSS_SELECTOR, "tr.fresh")
    assert errors_in_console(browser) == []


def test_the_map_pans_zooms_and_fetches_tiles(browser, server, screenshots):
    browser.get(server.base + "/map/infinitemap")
    settle(browser)
    view = browser.find_element(By.CSS_SELECTOR, ".map")
    wait(browser).until(lambda b: int(view.get_attribute("data-tiles-loaded") or 0) > 0)
    level, loaded = int(view.get_attribute("data-level")), int(view.get_attribute("data-tiles-loaded"))
    view.click()
    view.send_keys("+")
    wait(browser).until(lambda b: int(view.get_attribute("data-level")) == level - 1 or int(
        view.get_attribute("data-zoom")) > 0)
    wait(browser).until(lambda b: int(view.get_attribute("data-tiles-loaded")) > loaded)  # new tiles fetched
    centre = view.get_attribute("data-center")
    view.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_DOWN)
    assert view.get_attribute("data-center") != centre
    moved = view.get_attribute("data-center")
    ActionChains(browser).move_to_element(view).click_and_hold().move_by_offset(-120, -60).release().perform()
    assert view.get_attribute("data-center") != moved
    view.send_keys("-")
    view.send_keys("-")
    assert int(view.get_attribute("data-level")) >= level
    images = browser.find_elements(By.CSS_SELECTOR, ".map img")
    assert images and all(browser.execute_script("return arguments[0].naturalWidth", i) == 256 for i in images
                          if browser.execute_script("return arguments[0].complete", i))
    browser.save_screenshot(str(screenshots / "map-panned.png"))
    assert errors_in_console(browser) == []


def test_generate_streams_text(browser, server, screenshots):
    browser.get(server.base + "/models/pixellm/default")
    settle(browser)
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("import os\n\ndef main():\n    ")
    browser.find_element(By.ID, "max-tokens").clear()
    browser.find_element(By.ID, "max-tokens").send_keys("200")
    browser.find_element(By.ID, "generate").click()
    output = browser.find_element(By.ID, "generated")
    wait(browser, 60).until(lambda b: len(output.text) > 0)
    first = output.text
    wait(browser, 60).until(lambda b: "tokens/s" in b.find_element(By.CSS_SELECTOR, "main [role=status]").text)
    assert len(output.text) > len(first) or int(output.get_attribute("data-chunks")) > 1  # it streamed
    assert int(output.get_attribute("data-chunks")) > 1
    browser.save_screenshot(str(screenshots / "generate.png"))
    assert errors_in_console(browser) == []


def test_genesis_runs_from_the_system_page(browser, server, screenshots):
    browser.get(server.base + "/system")
    settle(browser)
    browser.find_element(By.XPATH, "//button[text()='Run genesis']").click()
    wait(browser, 120).until(lambda b: "recorded as" in b.find_element(By.TAG_NAME, "main").text)
    assert browser.find_element(By.PARTIAL_LINK_TEXT, "ATOM-GENESIS-")
    browser.save_screenshot(str(screenshots / "genesis.png"))
    assert errors_in_console(browser) == []


def test_a_browser_without_the_token_gets_403(chrome, server):
    chrome.delete_all_cookies()
    chrome.get(server.base + "/ledger")
    try:
        body = chrome.find_element(By.TAG_NAME, "body").text
        assert "403" in body and "token" in body
        assert chrome.execute_script("return window.fetch && document.querySelector('meta[name=pxos-token]')") is None
    finally:
        chrome.get(server.url)  # sign in again for the tests after this one
        chrome.get_log("browser")


# -- a tampered ledger -----------------------------------------------------------------------------------------


@pytest.fixture
def tampered(tmp_path, home):
    """A copy of the session's ledger in a new PXOS_HOME, with one record's payload edited."""
    tampered_home = tmp_path / "tampered-home"
    (tampered_home / "ledger").mkdir(parents=True)
    lines = (home / "ledger" / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    record = json.loads(lines[6])
    record["payload"]["tampered"] = True
    lines[6] = (json.dumps(record, separators=(",", ":"), sort_keys=True) + "\n").encode()
    (tampered_home / "ledger" / "ledger.jsonl").write_bytes(b"".join(lines))
    running = start_server(tampered_home)
    for _ in range(300):  # indexed and verified, so the page is drawn once, finished
        status = running.json("/api/ledger/status")[1]
        if status["index"]["state"] == "ready" and status["verify"]["state"] == "done":
            break
        time.sleep(0.1)
    yield running, record
    stop_server(running)


def test_a_tampered_record_shows_as_broken(chrome, tampered, screenshots):
    running, record = tampered
    chrome._pxos_signed_in = None
    chrome.get(running.url)
    wait(chrome).until(lambda b: "BROKEN" in b.find_element(By.CSS_SELECTOR, "main .banner").text)
    settle(chrome)
    banner = chrome.find_element(By.CSS_SELECTOR, "main .banner.bad")
    assert "verified up to record #6" in banner.text and "hash mismatch" in banner.text
    assert banner.value_of_css_property("color") == "rgba(200, 30, 30, 1)"  # red
    broken = chrome.find_elements(By.CSS_SELECTOR, "tr.broken")
    assert [row.find_element(By.CSS_SELECTOR, "td:last-child a").text for row in broken] == [record["id"]]
    assert "BROKEN" in chrome.find_element(By.ID, "chain").text
    chrome.save_screenshot(str(screenshots / "ledger-tampered.png"))
    banner.find_element(By.TAG_NAME, "a").click()
    wait(chrome).until(ready.url_contains(record["id"]))
    wait(chrome).until(lambda b: "fails its checks" in b.find_element(By.TAG_NAME, "main").text)
    chrome.save_screenshot(str(screenshots / "record-tampered.png"))
    assert errors_in_console(chrome) == []


def test_promote_and_roll_back_from_the_page(browser, server, screenshots):
    browser.get(server.base + "/cartridges/greeter?version=1.1.0")
    settle(browser)
    promote = browser.find_element(By.CSS_SELECTOR, "form[aria-label='promote greeter']")
    promote.find_element(By.CSS_SELECTOR, "button[type=submit]").click()  # no name, no reason
    wait(browser).until(lambda b: "needs the name" in b.find_element(By.CSS_SELECTOR, "main .error").text)
    browser.find_element(By.ID, "promote-who").send_keys("Ada Lovelace")
    browser.find_element(By.ID, "promote-why").send_keys("the friendlier greeting passed its tests")
    promote.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(lambda b: "is now current" in b.find_element(By.TAG_NAME, "main").text)
    browser.save_screenshot(str(screenshots / "promoted.png"))
    wait(browser).until(lambda b: "current" in b.find_element(By.CSS_SELECTOR, "main h1").text)  # redrawn
    browser.find_element(By.ID, "rollback-who").send_keys("Ada Lovelace")
    browser.find_element(By.ID, "rollback-why").send_keys("back to the first release")
    browser.find_element(By.CSS_SELECTOR, "form[aria-label='rollback greeter'] button[type=submit]").click()
    wait(browser).until(lambda b: "greeter@1.0.0 is now current" in b.find_element(By.TAG_NAME, "main").text)
    _, data = server.json("/api/cartridges/greeter")
    assert data["current"] == "1.0.0", data["history"][:3]
    assert [h["action"] for h in data["history"][:2]] == ["rollback", "promote"], data["history"][:3]
    # the one console error is the browser's own note of the refused promote (400), which the page showed
    assert [e for e in errors_in_console(browser) if "status of 400" not in e] == []
