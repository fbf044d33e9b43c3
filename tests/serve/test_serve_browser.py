"""A real browser: headless Debian chromium, driven by playwright, on a real `conductor serve`.

xterm.js draws the console on a canvas, so the text is read from the terminal's own buffer: an
init script catches the Terminal object when textual-serve's page stores it (as ``.terminal``
on its session object) and the test reads ``buffer.active`` line by line.
"""

from __future__ import annotations

import os

import pytest

from waiting import wait_for

from .helpers import PROJECT, Served, known_root

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture
def browser(tmp_path):
    """A fresh headless chromium profile (a new --user-data-dir) with the terminal catcher."""
    missing = _missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser test: {missing}")
        print(f"skipping the browser test: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        # playwright passes the profile as --user-data-dir itself
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800})
        context.add_init_script(CATCH_TERMINAL)
        try:
            yield context
        finally:
            context.close()


# Catch xterm's Terminal when textual.js assigns it (`this.terminal = new Terminal(...)`): an
# accessor on Object.prototype sees the first assignment of a `terminal` property on any object.
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true,
                                             enumerable: true});
    if (value && value.buffer) { window.__terminals = (window.__terminals || []).concat([value]); }
  },
  get() { return undefined; },
});
"""

SCREEN = """
() => {
  const term = (window.__terminals || [])[0];
  if (!term) return null;
  const buffer = term.buffer.active, lines = [];
  for (let i = 0; i < term.rows; i++) {
    const line = buffer.getLine(buffer.viewportY + i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}
"""


def _screen(page) -> str:
    return page.evaluate(SCREEN) or ""


def _wait_screen(page, text: str, timeout: float = 60) -> str:
    return wait_for(lambda: (lambda s: s if text in s else None)(_screen(page)), timeout,
                    what=f"{text!r} on the browser's screen; last screen:\n{_screen(page)}")


def test_the_console_in_headless_chromium_shows_the_task_and_answers_a_key(
        browser, tmp_path, subprocess_env):
    root = known_root(tmp_path)
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", root, "--port", "0", "--project", PROJECT], subprocess_env)
    try:
        assert served.url == f"http://127.0.0.1:{served.port}/"
        page = browser.new_page()
        page.goto(served.url)
        screen = _wait_screen(page, "browser-known")
        assert PROJECT in screen
        assert "read-only" in screen.lower() or "read only" in screen.lower(), screen
        assert served.children(), "a console process serves the page"
        page.focus("textarea.xterm-helper-textarea")  # xterm's keyboard input; no mouse click
        page.keyboard.type("?")
        help_screen = _wait_screen(page, "esc / q / ? close")
        assert "Keys" in help_screen and "browser-known" not in help_screen.split("Keys")[1]
        shot = tmp_path / "serve-console.png"
        page.screenshot(path=str(shot))
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000
        page.close()  # the browser goes: its console quits, the server stays
        wait_for(lambda: not served.children(), 30, what="the console to quit after the page closed")
        assert served.proc.poll() is None
        assert served.stop() == 0
    finally:
        served.kill()
