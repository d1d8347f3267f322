"""Real browser: `shoplake dashboard` on a free loopback port, each page in headless Chromium (Playwright).

Each page must render its title and at least one drawn chart, with no Streamlit exception box.
Screenshots go to docs/screenshots/ (regenerated on every run).
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.settings import REPO_ROOT

from .conftest import SHOPLAKE, free_port, lake_env

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
PAGES = [  # (url path, title)
    ("", "Overview"),
    ("sales", "Sales"),
    ("customers", "Customers"),
    ("clickstream", "Clickstream"),
    ("data_quality", "Data quality"),
    ("anomalies", "Anomalies & forecast"),
]
CHART_DRAWN = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks'

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dashboard exited with {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"dashboard at {url} not healthy after {timeout}s")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def dashboard(base_lake):
    port = free_port()
    proc = subprocess.Popen(
        [SHOPLAKE, "dashboard", "--port", str(port)],
        env=lake_env(base_lake),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_line = proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        assert url in first_line, first_line  # the CLI prints where to open it
        wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        assert not port_in_use(port), "Streamlit outlived `shoplake dashboard` after SIGTERM"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def test_every_page_renders_title_and_chart(dashboard, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems = []
    for path, title in PAGES:
        page.goto(f"{dashboard}/{path}", wait_until="domcontentloaded")
        page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=45_000)
        page.wait_for_selector(CHART_DRAWN, state="visible", timeout=45_000)
        # wait until the script run has finished (status widget gone), then let vega finish drawing
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=45_000)
        page.wait_for_timeout(800)
        if page.locator('[data-testid="stException"]').count():
            problems.append(f"{title}: {page.locator('[data-testid=stException]').first.inner_text()}")
        drawn = page.locator(CHART_DRAWN).count()
        if drawn < 1:
            problems.append(f"{title}: no chart drawn")
        name = path or "overview"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.close()
    assert not problems, problems
