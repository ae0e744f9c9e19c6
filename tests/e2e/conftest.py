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

from tests.support.apps import IN_CI, build_app

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
               "--no-first-run", "--disable-component-update", "--disable-sync", "--lang=fr-FR"]


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
    """Debian's Chromium, headless. Timeouts are generous: CI machines may be slow, never a reason to fail."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium is required under CI=true ({CHROMIUM} missing)")
        pytest.skip(f"no browser at {CHROMIUM}: install it with `apt-get install chromium` to run the journeys")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15000)  # the default 5 s is short for a loaded machine
    with sync_playwright() as playwright:
        # LANGUAGE makes the browser's own widgets French too (date fields, "Choisir un fichier").
        env = dict(os.environ, LANGUAGE="fr_FR:fr", LANG="fr_FR.UTF-8")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS, env=env)
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
    """Screenshots of each step at phone and desktop sizes, named journey/NN-step-size.png.

    At phone width nothing may stick out sideways; on the parent area's pages (the portal layout)
    every form field must have a label and every text must be readable (WCAG AA contrast).
    axe-core (WCAG 2.1 A and AA rules) runs at both sizes on the parent area's pages, the animators'
    pages and the staff screens used daily (those shot with `phone_layout=False`): any serious or
    critical violation fails the journey. `axe=False` leaves out a back-office screen that is not
    a daily one (FAB's generic catalogue forms)."""

    phone = PHONE
    desktop = DESKTOP

    def __init__(self, journey: str):
        self.folder = ARTIFACTS / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0
        self.taken: list[Path] = []

    def __call__(self, page, step: str, phone_layout: bool = True, axe: bool | None = None):
        """`phone_layout=False` for back-office screens, built for a desk computer: they are shot at
        both sizes but only the parent area must fit a phone."""
        self.count += 1
        name = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', _ascii(step.lower())).strip('-')}"
        original = page.viewport_size
        if axe is None:
            axe = not phone_layout or is_parent_layout(page)
        for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            path = self.folder / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
            if label == "phone" and phone_layout:
                assert_no_horizontal_overflow(page, step)
            if axe:
                assert_axe_clean(page, f"{step} ({label})")
        page.set_viewport_size(original or PHONE)
        if is_parent_layout(page):
            assert_accessible(page, step)


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def assert_no_horizontal_overflow(page, step: str) -> None:
    """At phone width nothing may stick out sideways (the page must not scroll horizontally)."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"layout breaks at phone width on step '{step}' ({overflow}px too wide)"


def is_parent_layout(page) -> bool:
    return bool(page.evaluate("document.body.classList.contains('portail')"))


# Every visible field has a label (a <label for>, a wrapping label, aria-label or aria-labelledby);
# every visible text has a contrast ratio of at least 4.5:1 (3:1 for large text) on its background.
A11Y_SCRIPT = r"""
() => {
  const problems = [];
  const visible = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  for (const field of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button'].includes(field.type) || !visible(field)) continue;
    const named = (field.labels && field.labels.length) || field.getAttribute('aria-label')
      || field.getAttribute('aria-labelledby');
    if (!named) problems.push('field without a label: ' + (field.name || field.id || field.outerHTML.slice(0, 80)));
  }
  const rgba = text => { const m = text.match(/[\d.]+/g) || [0, 0, 0, 0];
    return [+m[0], +m[1], +m[2], m.length > 3 ? +m[3] : 1]; };
  const lum = ([r, g, b]) => { const c = [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
  const background = el => {
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || !el || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    if (el.closest('.skip-link, script, style, option')) continue;
    const style = getComputedStyle(el);
    const fg = rgba(style.color), bg = background(el);
    const [l1, l2] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    if (ratio < needed) problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: "${text.slice(0, 40)}"`);
  }
  return problems;
}
"""


# axe-core, vendored from npm (tests/e2e/vendor/README.md): the journeys never download anything.
AXE_SOURCE = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# The script is handed to the page through DevTools (page.evaluate), which the page's strict
# Content-Security-Policy does not block, unlike a <script> tag that add_script_tag would insert.
AXE_RUN = """async (tags) => {
  const result = await window.axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                 resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' → ' + (n.failureSummary || '').slice(0, 160)),
  }));
}"""


def axe_violations(page) -> list[dict]:
    """Serious and critical axe-core violations (WCAG 2.1 A and AA) of the page as it stands."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("() => {\n" + AXE_SOURCE + "\n}")
    return page.evaluate(AXE_RUN, AXE_TAGS)


def assert_axe_clean(page, step: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core: serious or critical violations on step '{step}' ({page.url}): {violations}"


def assert_accessible(page, step: str) -> None:
    problems = page.evaluate(A11Y_SCRIPT)
    assert not problems, f"accessibility problems on step '{step}': {problems}"


@pytest.fixture
def shots(request):
    return Shots(request.node.name.removeprefix("test_"))


@pytest.fixture
def new_page(browser):
    """A fresh browser (own cookies) per person. Every asset must come from the portal itself
    (no CDN, the portal works offline) and load without error, and no page breaks its own
    Content-Security-Policy (the browser says so on the console): checked when the test ends."""
    contexts = []
    outside: list[str] = []
    broken: list[str] = []
    csp_violations: list[str] = []

    def watch(response):
        if response.status >= 400 and response.request.resource_type in {"stylesheet", "script", "image", "font"}:
            broken.append(f"{response.status} {response.url}")

    def make(viewport=PHONE):
        context = browser.new_context(viewport=viewport, locale="fr-FR", timezone_id="Europe/Paris")
        context.set_default_timeout(20000)
        context.set_default_navigation_timeout(30000)
        # Browser-internal pages (chrome://, the PDF viewer's chrome-extension://) are not the portal's.
        context.on("request", lambda request: outside.append(request.url)
                   if re.match(r"^(https?|wss?|ftp):", request.url)
                   and not re.match(r"^https?://127\.0\.0\.1[:/]", request.url) else None)
        context.on("response", watch)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: csp_violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not outside, f"the pages asked for assets outside the portal: {sorted(set(outside))}"
    assert not broken, f"assets failed to load: {sorted(set(broken))}"
    assert not csp_violations, f"the pages break their Content-Security-Policy: {csp_violations}"
