"""The log pane: following a growing file, pausing, searching, wrapping, hostile bytes."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from conductor.console import line_index
from conductor.console.widgets import log_view as log_view_module
from conductor.console.line_index import Change, LineIndex, display_line
from conductor.console.widgets.log_view import LogPane, LogView

SIZE = (100, 30)


class PaneApp(App):
    def __init__(self, path: str | None, **kwargs) -> None:
        super().__init__()
        self.path = path
        self.kwargs = kwargs
        self.follow_events: list[bool] = []

    def compose(self) -> ComposeResult:
        yield LogPane(self.path, **self.kwargs)

    def on_log_view_follow_changed(self, message: LogView.FollowChanged) -> None:
        self.follow_events.append(message.following)


def run(scenario, path: str | None, size=SIZE, **kwargs):
    """Run ``scenario(pilot, view, pane)`` inside a fresh app."""

    async def main():
        app = PaneApp(path, **kwargs)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            pane = app.query_one(LogPane)
            await scenario(pilot, pane.log_view, pane)

    asyncio.run(main())


async def settle(pilot) -> None:
    """Let thread workers finish and their messages be handled."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def press(pilot, *keys: str) -> None:
    """Press keys, then let the line reads they start (thread workers) land."""
    await pilot.press(*keys)
    await settle(pilot)


def rows(view: LogView) -> list[str]:
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


def status(pane: LogPane) -> str:
    return str(pane.status.render())


def write_lines(path: Path, lines, mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8") as f:
        f.writelines(f"{line}\n" for line in lines)


def numbered(start: int, stop: int) -> list[str]:
    return [f"line {n:05d} payload" for n in range(start, stop)]


async def append(pilot, view: LogView, path: Path, lines) -> None:
    write_lines(path, lines, mode="a")
    view.refresh_file()
    await settle(pilot)


# -- opening and following ----------------------------------------------------------------


def test_opens_ten_thousand_lines_at_the_tail(tmp_path):
    path = tmp_path / "agent-stdout.txt"
    write_lines(path, numbered(0, 10_000))

    async def scenario(pilot, view, pane):
        screen = rows(view)
        assert screen[-1].rstrip() == "line 09999 payload"
        assert screen[0].rstrip() == f"line {10_000 - len(screen):05d} payload"
        assert view.following
        assert view.line_count == 10_000 and view.index_complete
        assert "FOLLOWING" in status(pane)
        assert "of 10,000" in status(pane)
        await press(pilot, "g")
        assert rows(view)[0].rstrip() == "line 00000 payload"

    run(scenario, str(path))


def test_tail_shows_first_and_background_index_keeps_the_view_in_place(tmp_path,
                                                                       monkeypatch):
    path = tmp_path / "big.txt"
    write_lines(path, numbered(0, 10_000))
    monkeypatch.setattr(log_view_module, "TAIL_LINES", 100)
    build = LogView._start_index_build
    held: list[int] = []
    monkeypatch.setattr(LogView, "_start_index_build",
                        lambda self, generation: held.append(generation))

    async def scenario(pilot, view, pane):
        assert held and not view.index_complete
        assert view.line_count == 100
        assert rows(view)[-1].rstrip() == "line 09999 payload"
        assert "tail: lines" in status(pane) and "of 100" in status(pane)
        await press(pilot, "k", "k")
        before = rows(view)
        build(view, held[-1])
        await settle(pilot)
        assert view.index_complete and view.line_count == 10_000
        assert rows(view) == before
        assert "of 10,000" in status(pane) and "tail" not in status(pane)
        await press(pilot, "g")
        assert rows(view)[0].rstrip() == "line 00000 payload"

    run(scenario, str(path))


def test_appended_lines_show_while_following(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 100))

    async def scenario(pilot, view, pane):
        await append(pilot, view, path, ["fresh one", "fresh two"])
        screen = rows(view)
        assert [r.rstrip() for r in screen[-2:]] == ["fresh one", "fresh two"]
        assert view.following and view.new_lines == 0
        assert view.line_count == 102

    run(scenario, str(path))


def test_partial_last_line_is_completed_when_its_newline_arrives(tmp_path):
    path = tmp_path / "out.txt"
    path.write_bytes(b"first\nhalf a li")

    async def scenario(pilot, view, pane):
        assert [r.rstrip() for r in rows(view)[:2]] == ["first", "half a li"]
        with open(path, "ab") as f:
            f.write(b"ne\nnext")
        view.refresh_file()
        await settle(pilot)
        assert [r.rstrip() for r in rows(view)[:3]] == ["first", "half a line", "next"]
        assert view.line_count == 3

    run(scenario, str(path))


def test_scrolling_up_pauses_and_G_resumes(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 200))

    async def scenario(pilot, view, pane):
        await press(pilot, "k", "k", "k")
        await settle(pilot)
        assert not view.following
        assert "PAUSED" in status(pane)
        before = rows(view)
        await append(pilot, view, path, ["late 1", "late 2", "late 3", "late 4", "late 5"])
        assert rows(view) == before  # the view does not move while paused
        assert view.new_lines == 5
        assert "5 new lines \u2014 G/End to follow" in status(pane)
        await press(pilot, "G")
        await settle(pilot)
        assert view.following and view.new_lines == 0
        assert rows(view)[-1].rstrip() == "late 5"
        assert "FOLLOWING" in status(pane) and "new lines" not in status(pane)
        await press(pilot, "pageup", "end")
        await settle(pilot)
        assert pilot.app.follow_events == [False, True, False, True]

    run(scenario, str(path))


def test_follow_false_opens_paused(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 50))

    async def scenario(pilot, view, pane):
        assert not view.following
        await append(pilot, view, path, ["x"])
        assert view.new_lines == 1

    run(scenario, str(path), follow=False)


# -- search -------------------------------------------------------------------------------


def test_search_jumps_highlights_and_steps_with_n_and_N(tmp_path):
    path = tmp_path / "out.txt"
    lines = numbered(0, 5_000)
    for n in (120, 2_500, 4_000):
        lines[n] += " NEEDLE here"
    write_lines(path, lines)

    async def scenario(pilot, view, pane):
        await press(pilot, "g", "slash")
        await press(pilot, *"needle", "enter")
        await settle(pilot)
        assert view.match_line == 120
        screen = rows(view)
        y = next(i for i, r in enumerate(screen) if r.startswith("line 00120"))
        match_style = view.get_component_rich_style("log-view--current-match")
        strip = view.render_line(y)
        styled = "".join(seg.text for seg in strip if seg.style and
                         seg.style.bgcolor == match_style.bgcolor)
        assert styled == "NEEDLE"
        assert "line 121" in status(pane)
        await press(pilot, "n")
        await settle(pilot)
        assert view.match_line == 2_500
        assert any(r.startswith("line 02500") for r in rows(view))
        await press(pilot, "n")
        await settle(pilot)
        assert view.match_line == 4_000
        await press(pilot, "n")
        await settle(pilot)
        assert view.match_line == 120 and "wrapped" in status(pane)
        await press(pilot, "N")
        await settle(pilot)
        assert view.match_line == 4_000
        await press(pilot, "N")
        await settle(pilot)
        assert view.match_line == 2_500
        assert not view.following

    run(scenario, str(path))


def test_search_not_found_and_escape_closes_the_input(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 100))

    async def scenario(pilot, view, pane):
        await press(pilot, "slash")
        search = pane.query_one("#log-search")
        assert search.display and pilot.app.focused is search
        await press(pilot, "escape")
        assert not search.display and pilot.app.focused is view
        await press(pilot, "slash", *"zzz", "enter")
        await settle(pilot)
        assert view.match_line is None
        assert "\u201czzz\u201d not found" in status(pane)

    run(scenario, str(path))


# -- wrapping and long lines --------------------------------------------------------------


def test_w_toggles_wrap_and_unwrapped_lines_scroll_horizontally(tmp_path):
    path = tmp_path / "out.txt"
    long = "".join(chr(ord("a") + n % 26) for n in range(250))
    write_lines(path, ["short", long, "after"])

    async def scenario(pilot, view, pane):
        width = view.scrollable_content_region.width
        assert [r.rstrip() for r in rows(view)[:3]] == ["short", long[:width], "after"]
        await press(pilot, "l")
        await settle(pilot)
        assert rows(view)[1].rstrip() == long[4:4 + width]
        await press(pilot, "w")
        await settle(pilot)
        assert view.wrap
        width = view.scrollable_content_region.width
        screen = [r.rstrip() for r in rows(view)]
        assert screen[:5] == ["short", long[:width], long[width:2 * width], long[2 * width:],
                              "after"]
        assert "wrap" in status(pane)
        await press(pilot, "w")
        await settle(pilot)
        assert not view.wrap
        assert [r.rstrip() for r in rows(view)[:3]] == ["short", long[:width], "after"]

    run(scenario, str(path))


def test_wrapped_view_follows_the_last_rows(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, [f"{n:03d} " + "x" * 150 for n in range(60)])

    async def scenario(pilot, view, pane):
        await press(pilot, "w")
        await settle(pilot)
        screen = [r.rstrip() for r in rows(view)]
        assert screen[-2].startswith("059 ")
        await append(pilot, view, path, ["the end"])
        assert rows(view)[-1].rstrip() == "the end"

    run(scenario, str(path))


def test_three_megabyte_line_is_cut_with_a_marker(tmp_path):
    path = tmp_path / "out.txt"
    path.write_bytes(b"before\n" + b"y" * 3_000_000 + b"\nafter\n")

    async def scenario(pilot, view, pane):
        screen = [r.rstrip() for r in rows(view)]
        assert screen[:3] == ["before", "y" * view.scrollable_content_region.width, "after"]
        await press(pilot, "w")
        await settle(pilot)
        text = "".join(r.rstrip() for r in rows(view))
        assert f"{'y' * 100}\u2026 [+{3_000_000 - 100} chars]after" in text
        assert view._index.read_line(1, 400).data == b"y" * 400  # reads are capped

    run(scenario, str(path), max_line_length=100)


# -- hostile bytes ------------------------------------------------------------------------


def test_escape_sequences_and_bad_bytes_are_neutralised(tmp_path):
    path = tmp_path / "out.txt"
    path.write_bytes(b"A\x1b[2JB\x1b]0;title\x07C\x1b[10;10HD\x00E\xff\xfeF\x9bG\tH\rI\r\n"
                     b"\x1b[31mred\x1b[0m\r\n")

    async def scenario(pilot, view, pane):
        first, second = (r.rstrip() for r in rows(view)[:2])
        assert first == ("A\u241b[2JB\u241b]0;title\u2407C\u241b[10;10HD\u2400E\ufffd\ufffdF"
                         "\ufffdG       H\u240dI")
        assert second == "\u241b[31mred\u241b[0m"
        screenshot = pilot.app.export_screenshot()
        for raw in ("\x1b[2J", "\x07", "\x00", "title\x07"):
            assert raw not in screenshot
        for y in range(3):
            for segment in view.render_line(y):
                assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in segment.text)

    run(scenario, str(path))


# -- truncation, replacement, missing files -----------------------------------------------


def test_truncation_reloads_from_scratch(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 500))

    async def scenario(pilot, view, pane):
        await press(pilot, "g")
        assert not view.following
        write_lines(path, ["rewritten 1", "rewritten 2"])
        view.refresh_file()
        await settle(pilot)
        assert view.line_count == 2
        assert [r.rstrip() for r in rows(view)[:3]] == ["rewritten 1", "rewritten 2", ""]
        assert view.following and view.new_lines == 0

    run(scenario, str(path))


def test_replaced_file_is_reloaded(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 10))

    async def scenario(pilot, view, pane):
        other = tmp_path / "new.txt"
        write_lines(other, numbered(0, 10) + ["replacement"])
        os.replace(other, path)
        view.refresh_file()
        await settle(pilot)
        assert view.line_count == 11
        assert rows(view)[10].rstrip() == "replacement"

    run(scenario, str(path))


def test_missing_file_is_shown_once_it_appears(tmp_path):
    path = tmp_path / "agent-stderr.txt"

    async def scenario(pilot, view, pane):
        assert view.line_count == 0 and "waiting for file" in status(pane)
        write_lines(path, ["late start"])
        view.refresh_file()
        await settle(pilot)
        assert rows(view)[0].rstrip() == "late start"
        assert "waiting" not in status(pane)

    run(scenario, str(path))


def test_set_path_switches_files(tmp_path):
    one, two = tmp_path / "one.txt", tmp_path / "two.txt"
    write_lines(one, ["from one"])
    write_lines(two, ["from two", "second"])

    async def scenario(pilot, view, pane):
        await press(pilot, "k")
        pane.set_path(str(two))
        await settle(pilot)
        assert view.path == str(two) and view.line_count == 2
        assert [r.rstrip() for r in rows(view)[:2]] == ["from two", "second"]

    run(scenario, str(one))


def test_bindings_can_be_remapped_by_id(tmp_path):
    path = tmp_path / "out.txt"
    write_lines(path, numbered(0, 300))

    async def scenario(pilot, view, pane):
        pilot.app.set_keymap({"log.top": "t"})
        await press(pilot, "t")
        assert rows(view)[0].rstrip() == "line 00000 payload"

    run(scenario, str(path))


# -- the index on its own (small chunks, so every boundary case is exercised) -------------


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(line_index, "CHUNK_BYTES", 16)
    monkeypatch.setattr(line_index, "BLOCK_BYTES", 32)
    monkeypatch.setattr(line_index, "LONG_LINE", 32)
    monkeypatch.setattr(line_index, "TAIL_BACK_BLOCK", 8)
    monkeypatch.setattr(line_index, "TAIL_MAX_BYTES", 64)


def test_index_matches_a_plain_split(tmp_path, tiny_chunks):
    rnd = random.Random(7)
    path = tmp_path / "f.txt"
    for _ in range(150):
        pieces = [bytes(rnd.choice(b"abz\r") for _ in range(rnd.choice([0, 1, 5, 20, 90])))
                  for _ in range(rnd.randint(0, 40))]
        data = b"\n".join(pieces) + rnd.choice([b"", b"\n", b"partial"])
        path.write_bytes(data)
        index = LineIndex.open_tail(str(path), tail_lines=rnd.randint(1, 10))
        growth = bytes(rnd.choice(b"ab\n") for _ in range(rnd.randint(0, 60)))
        with open(path, "ab") as f:
            f.write(growth)
        data += growth
        change, size = index.check()
        index.apply(index.scan_growth(size))
        fd = index.dup_fd()
        index.merge_prefix(index.build_prefix(fd))
        expected = data.split(b"\n")
        if expected[-1] == b"":
            expected.pop()
        assert index.line_count == len(expected)
        for n, line in enumerate(expected):
            is_last_partial = n == len(expected) - 1 and not data.endswith(b"\n")
            want = line[:-1] if line.endswith(b"\r") and not is_last_partial else line
            assert index.read_line(n, 10_000).data == want
        # the worker's batched reads give the same lines (runs split at BLOCK_BYTES)
        wanted = sorted(rnd.sample(range(len(expected)), k=len(expected) * 2 // 3))
        with index.reader(own_fd=True) as reader:
            batched = reader.read_lines(wanted, 10_000)
            assert batched == {n: index.read_line(n, 10_000) for n in wanted}
            assert reader.read_lines(wanted, 3) == {n: index.read_line(n, 3) for n in wanted}
        for needle in (b"ab", b"zz"):
            for start in range(0, len(expected) + 1, 3):
                forward = next((k for k in range(start, len(expected))
                                if needle in expected[k]), None)
                assert line_index.find_forward(fd, index.line_start(start),
                                               index.state.scanned_to, start, needle,
                                               False) == forward
                backward = next((k for k in range(start - 1, -1, -1)
                                 if needle in expected[k]), None)
                assert line_index.find_backward(fd, 0, index.line_start(start),
                                                min(start, index.complete_lines), needle,
                                                False) == backward
        os.close(fd)
        index.close()


def test_index_detects_truncation_and_replacement(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\nb\n")
    index = LineIndex.open_tail(str(path))
    assert index.check() == (Change.SAME, 4)
    path.write_bytes(b"a\n")
    assert index.check()[0] is Change.RESET
    index.close()
    index = LineIndex.open_tail(str(path))
    other = tmp_path / "g.txt"
    other.write_bytes(b"a\nb\nc\n")
    os.replace(other, path)
    assert index.check()[0] is Change.RESET
    index.close()


def test_display_line_cuts_and_counts_hidden_characters():
    shown = display_line(line_index.LineBytes(b"abcdef", 6, True), 4)
    assert shown.text == "abcd\u2026 [+2 chars]" and shown.cut_at == 4
    assert display_line(line_index.LineBytes(b"abcde", 5, True), 4).text == "abcd\u2026 [+1 char]"
    partial = display_line(line_index.LineBytes(b"abcdef", 1_000, True), 4)
    assert partial.text == "abcd\u2026 [+996 chars]"
    assert display_line(line_index.LineBytes(b"\xe2\x82", 10, True), 4).text == (
        "\u2026 [+8 chars]")


# -- snapshot -----------------------------------------------------------------------------


def test_snapshot_paused_with_new_lines(snap_compare, tmp_path):
    path = tmp_path / "agent-stdout.txt"
    write_lines(path, [f"2026-02-23T19:17:{n % 60:02d}Z INFO step {n:04d} loss=0.{n:04d}"
                       for n in range(60)])

    async def run_before(pilot) -> None:
        await settle(pilot)
        await press(pilot, "pageup")
        view = pilot.app.query_one(LogView)
        await append(pilot, view, path, [f"appended {n}" for n in range(7)])

    assert snap_compare(PaneApp(str(path)), run_before=run_before, terminal_size=(80, 20))


# -- the event loop never reads the file (design principle 6) -----------------------------


def test_the_event_loop_never_reads_the_file(tmp_path, monkeypatch):
    """Open, follow growth, scroll, jump, wrap and search: every read of the file (and the
    open and the growth check) happens in a worker thread; the screen still shows it all."""
    import threading

    from conductor.store import safefs

    on_loop: list[str] = []
    reads = [0]
    real_pread, real_open, real_lstat = os.pread, safefs.open_view, os.lstat
    path = tmp_path / "out.txt"

    def watched(name, real):
        def call(*args):
            if name != "lstat" or args[0] == str(path):
                reads[0] += 1
                if threading.current_thread() is threading.main_thread():
                    on_loop.append(name)
            return real(*args)
        return call

    monkeypatch.setattr(os, "pread", watched("pread", real_pread))
    monkeypatch.setattr(safefs, "open_view", watched("open", real_open))
    monkeypatch.setattr(line_index.os, "lstat", watched("lstat", real_lstat))
    monkeypatch.setattr(log_view_module, "TAIL_LINES", 100)
    write_lines(path, numbered(0, 5000))

    async def scenario(pilot, view, pane):
        assert rows(view)[-1].rstrip() == "line 04999 payload"
        await append(pilot, view, path, ["fresh line"])
        assert rows(view)[-1].rstrip() == "fresh line"
        await press(pilot, "g")
        assert rows(view)[0].rstrip() == "line 00000 payload"
        await press(pilot, "pagedown", "j", "k", "G", "w")
        assert rows(view)[-1].rstrip() == "fresh line"
        view.search("line 00042")
        await settle(pilot)
        assert view.match_line == 42
        assert "line 00042 payload" in [r.rstrip() for r in rows(view)]

    run(scenario, str(path))
    assert reads[0] > 10 and on_loop == []


def test_a_huge_line_without_a_newline_opens_in_a_worker(tmp_path, monkeypatch):
    """A 40 MB file without a newline is read backwards to its start to find the tail: that
    happens in a worker, and the pane shows the line cut with a marker."""
    path = tmp_path / "one-line.txt"
    path.write_bytes(b"x" * (40 * 1024 * 1024))

    async def scenario(pilot, view, pane):
        assert view.line_count == 1
        assert rows(view)[0].startswith("x" * 50 + "\u2026 [+")

    run(scenario, str(path), max_line_length=50)
