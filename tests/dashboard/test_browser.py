"""Real browser: `shoplake dashboard` on a free loopback port over the demo's lake, in headless Chromium.

Each page must render its title and draw every chart, with no Streamlit exception box; the
Overview's tiles must all have a value and none may be cut off. Screenshots go to a temp dir, or
to docs/screenshots with `pytest --update-screenshots` (`make screenshots`).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from pipelines.services import free_port

from ..helpers import CHROMIUM, launch_chromium, stop_process, wait_healthy
from .conftest import SHOPLAKE, lake_env

PAGES = [  # (url path, title, charts the page draws over the demo's lake)
    ("", "Overview", 1),
    ("sales", "Sales", 3),
    ("customers", "Customers", 3),
    ("clickstream", "Clickstream", 3),
    ("data_quality", "Data quality", 3),
    ("anomalies", "Anomalies & forecast", 2),
]
CHARTS_DRAWN = """(want) => {
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    const drawn = charts.filter((chart) => [...chart.querySelectorAll('canvas, svg.marks')]
        .some((el) => el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0));
    const running = document.querySelector('[data-testid="stStatusWidget"]');
    return !running && drawn.length >= want && drawn.length === charts.length;
}"""
TILES = """() => [...document.querySelectorAll('[data-testid="stMetric"]')].map((tile) => {
    const parts = ['stMetricLabel', 'stMetricValue'].map((id) => tile.querySelector(`[data-testid="${id}"]`));
    // a part is cut off when it, or any element inside it, holds more than it shows
    const clipped = (part) => [part, ...part.querySelectorAll('*')].some((el) => el.scrollWidth > el.clientWidth + 1);
    return {label: parts[0].innerText, value: parts[1].innerText,
            clipped: parts.filter(clipped).map((part) => part.dataset.testid)};
})"""
CONTENT_HEIGHT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    return Math.ceil(Math.max(main ? main.scrollHeight : 0, document.documentElement.scrollHeight));
}"""

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def dashboard(story_lake):
    port = free_port()
    proc = subprocess.Popen(
        [SHOPLAKE, "dashboard", "--port", str(port)],
        env=lake_env(story_lake),
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
        stop_process(proc)
        assert not port_in_use(port), "Streamlit outlived `shoplake dashboard` after SIGTERM"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


def open_page(browser, url: str, title: str, charts: int, width: int = 1400):
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=45_000)
    page.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=45_000)
    page.wait_for_timeout(500)  # vega's last paint after the marks exist
    return page


def screenshot_whole_page(page, path: Path, charts: int) -> None:
    """Streamlit scrolls inside its main area, so a full-page shot stops at the viewport: grow the viewport
    to the content, let the charts redraw at that size, then shoot."""
    height = page.evaluate(CONTENT_HEIGHT)
    page.set_viewport_size({"width": page.viewport_size["width"], "height": max(height, 600)})
    page.wait_for_function(CHARTS_DRAWN, arg=charts, timeout=45_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.slow
def test_every_page_renders_title_and_draws_its_charts(dashboard, browser, screenshot_dir):
    problems = []
    for path, title, charts in PAGES:
        page = open_page(browser, f"{dashboard}/{path}", title, charts)
        if page.locator('[data-testid="stException"]').count():
            problems.append(f"{title}: {page.locator('[data-testid=stException]').first.inner_text()}")
        screenshot_whole_page(page, screenshot_dir / f"{path or 'overview'}.png", charts)
        page.close()
    assert not problems, problems


@pytest.mark.parametrize("width", [1024, 1280, 1400])
def test_overview_tiles_have_values_and_are_not_cut_off(dashboard, browser, width):
    """After the demo every tile has a value (conversion too), and at common laptop widths none is ellipsised."""
    page = open_page(browser, dashboard, "Overview", 1, width)
    tiles = page.evaluate(TILES)
    page.close()
    assert [t["label"] for t in tiles] == [
        "Revenue", "Orders", "Average order value", "Active customers", "Conversion rate",
    ]  # fmt: skip
    assert all(t["value"] not in ("", "—") for t in tiles), tiles
    assert not [t for t in tiles if t["clipped"]], tiles
