"""The status page in a real browser: Debian's Chromium, headless, driven by Selenium through
Debian's chromedriver, against a real uvicorn on loopback (tests/apps/status_page.py, and the demo).

Screenshots of each run (wide light and dark, phone) are saved in pytest's temporary directory;
the test prints where.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from healthkit._page import REFRESH
from tests.servers import Server, free_port, serve_demo

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
if CHROMIUM is None or CHROMEDRIVER is None:
    if os.environ.get("CI") == "true":
        pytest.fail("chromium and chromium-driver are not installed; .ci/run installs them (apt-get)")
    pytest.skip(
        "chromium or chromedriver is not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )

APPS = Path(__file__).resolve().parent / "apps"
TOKEN = "page-test-token-0123456789"
DEMO_TOKEN = "demo-token-change-me"
# A status reads as the icon the style sheet draws before its word, then the word.
SNAPSHOT = """
const big = document.querySelector("h1.big");
if (!big || document.readyState !== "complete") return null;
const text = (element) => (element ? element.textContent : null);
const icon = (element) => getComputedStyle(element, "::before").content.split(" / ")[0];
const shown = (element) => icon(element).replaceAll('"', "") + " " + element.textContent;
return {
  overall: shown(big),
  header: text(document.querySelector("header")),
  footer: text(document.querySelector("footer")),
  title: document.title,
  origin: performance.timeOrigin,
  pwned: window.pwned === undefined ? null : String(window.pwned),
  markup: document.querySelectorAll("main script, main img").length,
  checks: [...document.querySelectorAll("li.c")].map((card) => [
    text(card.querySelector(".n")),
    {
      status: shown(card.querySelector("h2 .b")),
      output: text(card.querySelector("pre")),
      details: card.querySelectorAll("pre, dl, .h").length,
      history: [...card.querySelectorAll(".h li")].map((item) => item.className),
    },
  ]),
};
"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


class Browser:
    """One headless Chromium with a fresh profile; every console message it logs is kept."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.profile = tempfile.mkdtemp(prefix="healthkit-chromium-")
        options = webdriver.ChromeOptions()
        assert CHROMIUM is not None
        assert CHROMEDRIVER is not None
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={self.profile}", "--window-size=1280,900"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # Selenium's own driver manager would download a driver: Debian's is given instead.
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        self.log: list[dict[str, Any]] = []
        if headers:
            self.driver.execute_cdp_cmd("Network.enable", {})
            self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.wait_for(lambda: self.snapshot())

    def wait_for(self, condition: Callable[[], object], timeout: float = 10) -> None:
        WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda _: condition())

    def snapshot(self) -> dict[str, Any]:
        """What the page shows, read in one script, so a reload cannot come between two reads;
        empty while no page is there."""
        shown: dict[str, Any] | None = self.driver.execute_script(SNAPSHOT)
        if not shown:
            return {}
        shown["checks"] = dict(shown["checks"])  # pairs: a JavaScript object would lose the order
        return shown

    def problems(self) -> list[dict[str, Any]]:
        """Console errors and warnings (scripts, CSP violations, failed loads), but for the page's
        own status code: a failing service answers its page with 503, as it does the document."""
        self.log += self.driver.get_log("browser")  # type: ignore[no-untyped-call]  # untyped in selenium
        return [
            entry
            for entry in self.log
            if entry["level"] in ("SEVERE", "WARNING")
            and not (entry["source"] == "network" and "with a status of 503" in entry["message"])
        ]

    def screenshot(self, path: Path, width: int, *, dark: bool = False) -> Path:
        """The whole page at ``width`` CSS pixels, light or dark."""
        scheme = "dark" if dark else "light"
        self.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
        )
        self.driver.set_window_size(width, 900)
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browsers() -> Iterator[Callable[..., Browser]]:
    """Starts browsers for a test (``browsers()`` anonymous, ``browsers(headers)``); quits them."""
    started: list[Browser] = []

    def start(headers: dict[str, str] | None = None) -> Browser:
        try:
            browser = Browser(headers)
        except WebDriverException as exc:
            pytest.fail(f"Chromium did not start under chromedriver: {exc.msg}")
        started.append(browser)
        return browser

    yield start
    for browser in started:
        browser.quit()


@pytest.fixture
def service() -> Iterator[Server]:
    """tests/apps/status_page.py under uvicorn on a free loopback port."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "status_page:app", "--app-dir", str(APPS)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    server = Server(command, port, {"PAGE_TOKEN": TOKEN})
    yield server
    server.stop()


def set_check(service: Server, name: str, status: str, output: str | None = None) -> None:
    params = {"check": name, "status": status, **({"output": output} if output else {})}
    httpx2.post(f"{service.url}/control", params=params).raise_for_status()


AUTHORIZED = {"Authorization": f"Bearer {TOKEN}"}
# How a status reads on the page: an icon and the word, never a colour alone.
PASS, WARN, FAIL = "\u2713 pass", "! warn", "\u2715 fail"


def test_the_page_loads_clean_and_shows_every_status_failing_first(
    service: Server, browsers: Callable[..., Browser], tmp_path: Path
) -> None:
    browser = browsers(AUTHORIZED)
    browser.open(f"{service.url}/health")
    page = browser.snapshot()
    shots = [
        browser.screenshot(tmp_path / "status-page-wide.png", 1280),
        browser.screenshot(tmp_path / "status-page-dark.png", 1280, dark=True),
        browser.screenshot(tmp_path / "status-page-phone.png", 390),
    ]
    print(f"screenshots: {', '.join(map(str, shots))}")

    assert [] == browser.problems()
    assert WARN == page["overall"]
    assert {
        "mail:connections": FAIL,
        "notes": WARN,
        "postgres:responseTime": PASS,
        "billing-api": PASS,
        "disk:utilization": PASS,
    } == {name: check["status"] for name, check in page["checks"].items()}
    assert ["mail:connections", "notes"] == list(page["checks"])[:2]
    assert "Billing API \u00b7 version 3 \u00b7 release 3.1.4" in page["header"]
    assert page["checks"]["mail:connections"]["output"].startswith("ConnectionRefusedError (error id")
    assert all(shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for shot in shots)


def test_a_failure_shows_within_one_refresh_and_enters_the_history(
    service: Server, browsers: Callable[..., Browser]
) -> None:
    browser = browsers(AUTHORIZED)
    browser.open(f"{service.url}/health")
    loaded = browser.snapshot()["origin"]

    set_check(service, "postgres:responseTime", "fail", "timed out after 0.5s")
    changed = time.monotonic()
    browser.wait_for(
        lambda: browser.snapshot().get("checks", {}).get("postgres:responseTime", {}).get("status") == FAIL,
        timeout=REFRESH + 5,
    )
    seen = time.monotonic() - changed
    page = browser.snapshot()
    postgres = page["checks"]["postgres:responseTime"]
    timeline = orjson.loads(httpx2.get(f"{service.url}/health?history", headers=AUTHORIZED).content)

    assert seen <= REFRESH + 2  # within one refresh, with room for a slow machine
    assert loaded != page["origin"]  # the page reloaded itself
    assert FAIL == page["overall"]
    assert "timed out after 0.5s" == postgres["output"]
    assert ["s-fail", "s-pass"] == postgres["history"]
    assert ["fail", "pass"] == [c["status"] for c in timeline["checks"]["postgres:responseTime"]["changes"]]
    assert [] == browser.problems()


def test_markup_in_an_output_is_shown_as_text_and_never_runs(
    service: Server, browsers: Callable[..., Browser]
) -> None:
    browser = browsers(AUTHORIZED)
    browser.open(f"{service.url}/health")
    time.sleep(0.5)  # time for an injected script or image error handler to run, were there one

    page = browser.snapshot()

    assert "pwned" not in page["title"]
    assert page["pwned"] is None
    assert 0 == page["markup"]
    assert page["checks"]["notes"]["output"].startswith(
        "<script>document.title='pwned';window.pwned=1</script><img src=x"
    )
    assert [] == browser.problems()  # not even a blocked attempt


def test_an_anonymous_browser_sees_statuses_and_no_output(
    service: Server, browsers: Callable[..., Browser]
) -> None:
    browser = browsers()
    browser.open(f"{service.url}/health")
    page = browser.snapshot()
    source = browser.driver.page_source

    assert WARN == page["overall"]
    assert {"mail:connections": FAIL, "notes": WARN}.items() <= {
        name: check["status"] for name, check in page["checks"].items()
    }.items()
    assert all(0 == check["details"] for check in page["checks"].values())
    for detail in ("ConnectionRefusedError", "notes waiting", "Billing API", "billing", "3.1.4"):
        assert detail not in source.replace("billing-api", "")
    assert "shown to authorized requests only" in page["footer"]
    assert [] == browser.problems()


def test_the_demo_signs_a_browser_in_with_a_cookie_not_a_url(
    browsers: Callable[..., Browser], tmp_path: Path
) -> None:
    env = {"HEALTHKIT_DEMO_DB": str(tmp_path / "demo.sqlite3"), "HEALTHKIT_DEMO_MAIL_PORT": str(free_port())}
    demo = serve_demo(env)
    try:
        browser = browsers()
        browser.open(f"{demo.url}/health")
        anonymous = browser.snapshot()

        browser.driver.get(f"{demo.url}/login")
        browser.driver.find_element(By.ID, "token").send_keys("not the token")
        browser.driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        browser.wait_for(lambda: browser.driver.find_elements(By.CSS_SELECTOR, "[role=alert]"))
        browser.driver.find_element(By.ID, "token").send_keys(DEMO_TOKEN)
        browser.driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        browser.wait_for(lambda: browser.snapshot())
        signed_in = browser.driver.current_url
        cookies = browser.driver.get_cookies()
        script_sees = browser.driver.execute_script("return document.cookie")
        mail = browser.snapshot()["checks"]["mail:connections"]
        problems = browser.problems()
    finally:
        demo.stop()

    assert all(0 == check["details"] for check in anonymous["checks"].values())
    assert f"{demo.url}/health" == signed_in  # no token in any URL
    assert [("healthkit_demo_session", True, "Strict", False)] == [
        (c["name"], c["httpOnly"], c["sameSite"], c["secure"]) for c in cookies
    ]
    assert DEMO_TOKEN not in cookies[0]["value"]
    assert "" == script_sees
    assert mail["output"].startswith("cannot connect to 127.0.0.1")  # the mail relay's output: details
    assert [] == [p for p in problems if "/login" not in p["message"] or "401" not in p["message"]]
