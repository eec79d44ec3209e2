"""The dashboard in a real browser: Debian's headless Chromium, driven by selenium
through Debian's chromedriver (given explicitly: selenium-manager never goes to the
network). It loads the page over a real run's log directory, sees an alert appended to
eve.json appear, opens it (flow, explanation), downloads its snippet and reads it back
as a pcap with dpkt.

Kept in tests/artefacts/serve/ (serve_support.ARTEFACTS): browser.png (a screenshot of
the page with the alert open) and browser.json (what was measured: time to first
contentful paint, and append -> row on the page, from the page's own clock). Times are
recorded, never asserted (waits are generous: serve_support.PATIENCE).
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import dpkt
import pytest
from serve_support import (ARTEFACTS, PATIENCE, ServerThread, alert_like, append, later,
                           real_run, record, wait_for)

from wirescore.serve.app import build_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install 'wirescore[test]')")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip("needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
                "/usr/bin/chromedriver): apt-get install chromium chromium-driver; "
                ".ci/run installs them", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

#: seen on the page when a row with this source address shows (from the page's clock)
WATCH = """
window.__seen = {};
new MutationObserver(() => {
  for (const tr of document.querySelectorAll('#feed tbody tr')) {
    if (!(tr.dataset.id in window.__seen))
      window.__seen[tr.dataset.id] = performance.timeOrigin + performance.now();
  }
}).observe(document.querySelector('#feed tbody'), {childList: true});
"""


@pytest.fixture
def browser(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1400,1000", "--no-first-run",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(PATIENCE * 4)
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def rows(driver) -> list:
    return driver.find_elements(By.CSS_SELECTOR, "#feed tbody tr")


def test_alert_appended_shows_opens_and_downloads_its_pcap(tmp_path, browser):
    events = real_run(tmp_path / "logs")
    logdir = tmp_path / "logs"
    alert = next(e for e in events if e["event_type"] == "alert")
    with ServerThread(build_app(logdir)) as server:
        browser.get(server.url + "/")
        wait_for(lambda: len(rows(browser)) == 3, "the run's 3 alerts on the page")
        paint = browser.execute_script(
            "return performance.getEntriesByType('paint').map(e => [e.name, e.startTime])")
        browser.execute_script(WATCH)
        wait_for(lambda: "live" in browser.find_element(By.ID, "conn").text,
                 "the WebSocket to connect")

        written = time.time()
        append(logdir / "eve.json", alert_like(alert, later(0), src_ip="10.66.66.66"))
        new = wait_for(lambda: [r for r in rows(browser) if "10.66.66.66" in r.text],
                       "the appended alert on the page")[0]
        shown = browser.execute_script("return window.__seen[arguments[0]]",
                                       new.get_attribute("data-id"))
        assert new.get_attribute("data-id") == "4"
        assert alert["alert"]["signature"] in new.text

        new.click()
        detail = browser.find_element(By.ID, "detail")
        wait_for(lambda: detail.is_displayed() and "#4" in detail.text, "alert 4 opened")
        explanation = browser.find_element(By.ID, "d-explain").text
        assert "stood out: " + alert["alert"]["metadata"]["wirescore_features"][0] in explanation
        flow_text = browser.find_element(By.ID, "d-flow").text
        flows = {e["flow_id"]: e for e in events if e["event_type"] == "flow"}
        if alert["flow_id"] in flows:        # the run wrote the alert's flow: it opens
            assert json.loads(flow_text)["flow_id"] == alert["flow_id"]
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTEFACTS / "browser.png"))

        browser.find_element(By.ID, "d-pcap").click()
        got = wait_for(lambda: [p for p in browser.downloads.iterdir()
                                if p.suffix == ".pcap" and p.stat().st_size], "the download")
        data = got[0].read_bytes()
        assert data == (logdir / alert["capture_file"]).read_bytes()
        packets = list(dpkt.pcap.Reader(io.BytesIO(data)))
        assert packets and all(len(buf) > 0 for _, buf in packets)

        # nothing came from elsewhere: every resource is the server's own
        sources = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        assert sources and all(s.startswith(server.url) for s in sources), sources
        assert browser.execute_script("return !!window.Plotly")

    record("browser", {
        "first_contentful_paint_ms": dict(paint).get("first-contentful-paint"),
        "first_paint_ms": dict(paint).get("first-paint"),
        "append_to_row_ms": round(shown - written * 1000, 1) if shown else None,
        "screenshot": str(ARTEFACTS / "browser.png"),
    })


def test_filters_on_the_page(tmp_path, browser):
    events = real_run(tmp_path / "logs")
    logdir = tmp_path / "logs"
    alert = next(e for e in events if e["event_type"] == "alert")
    with ServerThread(build_app(logdir)) as server:
        browser.get(server.url + "/")
        wait_for(lambda: len(rows(browser)) == 3, "the run's alerts")
        browser.find_element(By.ID, "f-address").send_keys("10.5.5.5")
        browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        wait_for(lambda: not rows(browser), "the filter to empty the feed")
        wait_for(lambda: "live" in browser.find_element(By.ID, "conn").text, "live")
        append(logdir / "eve.json", alert_like(alert, later(0), src_ip="10.9.9.9") +
               alert_like(alert, later(0), dest_ip="10.5.5.5"))
        wait_for(lambda: len(rows(browser)) == 1, "the matching alert")
        time.sleep(0.5)                     # the other one would have come with it
        assert [r.get_attribute("data-id") for r in rows(browser)] == ["5"]
        browser.find_element(By.ID, "f-address").clear()
        browser.find_element(By.ID, "f-severity").send_keys("1")
        browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        wait_for(lambda: not rows(browser), "severity 1: none")
        assert browser.find_element(By.ID, "f-error").text == ""


def test_page_after_100k_alerts_paints_and_lists(tmp_path, browser):
    """After 100,000 alerts appended at full speed the page still loads: the newest
    alerts listed, charts drawn. Time to first paint and to the listed rows recorded."""
    from datetime import timedelta

    from serve_support import now_utc
    events = real_run(tmp_path / "logs")
    logdir = tmp_path / "logs"
    alert = next(e for e in events if e["event_type"] == "alert")
    start = now_utc()
    lines = b"".join(alert_like(alert, start + timedelta(milliseconds=i),
                                src_ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
                     for i in range(100_000))
    with ServerThread(build_app(logdir)) as server:
        append(logdir / "eve.json", lines)
        wait_for(lambda: server.get_json("/api/status")["alerts_total"] == 100_003,
                 "100,000 alerts indexed", timeout=120)
        began = time.monotonic()
        browser.get(server.url + "/")
        wait_for(lambda: len(rows(browser)) == 200, "the newest 200 alerts listed")
        listed = time.monotonic() - began
        assert rows(browser)[0].get_attribute("data-id") == "100003"
        wait_for(lambda: browser.execute_script(
            "return document.querySelectorAll('#c-alerts .main-svg').length > 0"),
            "the charts drawn")
        paint = dict(browser.execute_script(
            "return performance.getEntriesByType('paint').map(e => [e.name, e.startTime])"))
        browser.save_screenshot(str(ARTEFACTS / "browser-100k.png"))
    record("browser", {"after_100k_first_contentful_paint_ms":
                       paint.get("first-contentful-paint"),
                       "after_100k_page_to_rows_ms": round(listed * 1000, 1)})
