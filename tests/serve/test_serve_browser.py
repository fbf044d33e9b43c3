"""A real browser: headless Debian chromium, driven by playwright, on a real `conductor serve`.

xterm.js draws the console on a canvas, so the text is read from the terminal's own buffer: an
init script catches the Terminal object when textual-serve's page stores it (as ``.terminal``
on its session object) and the test reads ``buffer.active`` line by line.
"""

from __future__ import annotations

import os

import pytest

from waiting import wait_for

from console.live import stop_everything, write_agent
from conductor.store.supervision import loop_alive

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
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(served.url)
        _wait_screen(page, "browser-known")
        base = f"127.0.0.1:{served.port}/"
        assert [u for u in requested if u.split("://", 1)[1][:len(base)] != base] == []
        assert f"http://{base}static/fonts/RobotoMono-VariableFont_wght.ttf" in requested
        # each a wait of its own: the buffer may be read while a frame is half drawn
        _wait_screen(page, f"{PROJECT}  1 task")
        _wait_screen(page, "conductor [read-only]")
        assert served.children(), "a console process serves the page"
        page.focus("textarea.xterm-helper-textarea")  # xterm's keyboard input; no mouse click
        page.keyboard.type("?")
        _wait_screen(page, "esc / q / ? close")
        _wait_screen(page, "Keys  (action ids in the right column")
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


def test_a_task_started_from_the_browser_outlives_the_page_and_the_server(
        browser, tmp_path, subprocess_env):
    root = tmp_path / "runs"
    root.mkdir()
    config, _ = write_agent(tmp_path)
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", str(root), "--config", config, "--project", "e2e", "--control",
                     "--port", "0"], subprocess_env)
    try:
        page = browser.new_page()
        page.goto(served.url)
        _wait_screen(page, "watch: inotify")
        page.focus("textarea.xterm-helper-textarea")
        page.keyboard.type("n")
        _wait_screen(page, "Create and start")
        page.keyboard.type("@LONG@ keep working")
        _wait_screen(page, "@LONG@ keep working")
        page.keyboard.press("Control+s")
        _wait_screen(page, "started task-")
        # the id from the disk, not the screen: a frame may be read half drawn
        [task] = wait_for(lambda: [d for d in os.listdir(root / "e2e") if d.startswith("task-")],
                          30, what="the task's folder")
        task_dir = root / "e2e" / task
        wait_for(lambda: loop_alive(str(task_dir)), 30, what="the task's supervisor")
        _wait_screen(page, "1 running")
        page.screenshot(path=str(tmp_path / "serve-control.png"))
        page.close()
        wait_for(lambda: not served.children(), 30, what="the console to quit after the page closed")
        assert loop_alive(str(task_dir))
        assert served.stop() == 0
        assert loop_alive(str(task_dir))
        size = _stdout_size(task_dir)
        wait_for(lambda: _stdout_size(task_dir) > size, 30, what="the agent to go on writing")
    finally:
        served.kill()
        stop_everything(str(root))


def _stdout_size(task_dir) -> int:
    return sum(os.path.getsize(os.path.join(d, "agent-stdout.txt"))
               for d, _, files in os.walk(task_dir) if "agent-stdout.txt" in files)


def test_the_browser_keeps_the_token_in_a_cookie_not_in_the_address(
        browser, tmp_path, subprocess_env):
    root = known_root(tmp_path)
    token = "browser-token-0123456789abcdef"
    (tmp_path / "token").write_text(token + "\n")
    subprocess_env["CONDUCTOR_CONSOLE_STATE"] = str(tmp_path / "state.json")
    served = Served(["--root", root, "--port", "0", "--token-file", str(tmp_path / "token")],
                    subprocess_env)
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{served.port}/?token={token}")
        assert page.url == f"http://127.0.0.1:{served.port}/"
        _wait_screen(page, "browser-known")  # the websocket passed on the cookie alone
        page.close()
        browser.clear_cookies()
        page = browser.new_page()
        response = page.goto(f"http://127.0.0.1:{served.port}/")
        assert response.status == 403
        assert page.inner_text("body") == (
            "403 Forbidden: this console needs its token: open the URL `conductor serve` printed\n")
        page.close()
    finally:
        served.kill()
