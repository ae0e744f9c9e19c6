"""Real-browser journeys: the portal served on loopback, driven by Playwright in Debian's Chromium.

Without a browser and outside CI the journeys skip with a clear message; under CI=true a missing
browser is a failure (.ci/run installs Chromium). Screenshots of every step, at phone and desktop
sizes, go to artifacts/screenshots/ (git-ignored).
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import IN_CI, build_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
               "--no-first-run", "--disable-component-update", "--disable-sync"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


class LiveServer:
    """The portal in a thread of the test process, with the embedded worker (holds expire by themselves)."""

    def __init__(self, app):
        from app.jobs.worker import EmbeddedWorker

        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        app.config["PUBLIC_URL"] = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.worker = EmbeddedWorker(app, interval=0.5)

    def start(self):
        self.thread.start()
        self.worker.start()
        return self

    def stop(self):
        self.worker.stop()
        self.server.shutdown()
        self.worker.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true ({CHROMIUM} missing)")
        pytest.skip(f"no browser at {CHROMIUM}: install it with `apt-get install chromium` to run the journeys")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server_factory(tmp_path_factory):
    """Start a portal with its own SQLite database; `overrides` change settings (e.g. a short hold)."""
    servers = []

    def start(**overrides):
        url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'portail.db'}"
        settings = {"WTF_CSRF_ENABLED": True, "REDIS_URL": None, "EMBEDDED_WORKER": True,
                    "SWEEP_INTERVAL_SECONDS": 2}
        settings.update(overrides)
        app = build_app(url, tmp_path_factory, **settings)
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


class Shots:
    """Screenshots of each step at phone and desktop sizes, named journey/NN-step-size.png."""

    def __init__(self, journey: str):
        self.folder = ARTIFACTS / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, page, step: str):
        self.count += 1
        name = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', step.lower()).strip('-')}"
        original = page.viewport_size
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            path = self.folder / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
            if label == "phone":
                assert_no_horizontal_overflow(page, step)
        page.set_viewport_size(original or PHONE)


def assert_no_horizontal_overflow(page, step: str) -> None:
    """At phone width nothing may stick out sideways (the page must not scroll horizontally)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"layout breaks at phone width on step '{step}' ({overflow}px too wide)"


@pytest.fixture
def shots(request):
    return Shots(request.node.name.removeprefix("test_"))


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(viewport=PHONE):
        context = browser.new_context(viewport=viewport, locale="fr-FR", timezone_id="Europe/Paris")
        context.set_default_timeout(15000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
