"""Benchmark the log pane on a 1 GB file: open at tail, background index, memory, appends.

Run: ``PYTHONPATH=src python benchmarks/bench_log_view.py [--size-mb 1024] [--keep]``.
The file is written to /tmp and deleted afterwards. Frames are forced the way the perf notes
do it (``_wait_for_screen`` + ``screen._on_timer_update()``), with ``App._display`` patched so
headless frames are also turned into terminal sequences (everything but the tty write).
Timings vary 15-25 % between runs on the project VM: compare against budgets of 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time

import psutil
from textual.app import App, ComposeResult
from textual.widgets import Static

from conductor.console.widgets.log_view import LogPane

FINAL_LINE = "FINAL LINE OF THE BENCHMARK FILE"
SIZE = (160, 50)


def make_file(path: str, size_mb: int) -> tuple[int, int]:
    """Write ~size_mb MiB of ~90-byte log lines; returns (bytes, lines)."""
    lines = []
    n = 0
    total = 0
    while total < 1024 * 1024:
        line = (f"2026-02-23T19:17:{n % 60:02d}Z INFO worker-{n % 8} step {n:07d}: "
                f"loss=0.{n % 9973:04d} item=data/shard-{n % 97:02d}\n")
        lines.append(line)
        total += len(line)
        n += 1
    block = "".join(lines).encode()
    with open(path, "wb") as f:
        for _ in range(size_mb):
            f.write(block)
        f.write(f"{FINAL_LINE}\n".encode())
    return size_mb * len(block) + len(FINAL_LINE) + 1, size_mb * n + 1


class BenchApp(App):
    def compose(self) -> ComposeResult:
        yield Static("bench")


def patch_display() -> list[int]:
    """Make headless frames produce their terminal bytes, as a real terminal would."""
    from textual._compositor import CompositorUpdate

    written = [0]
    original = App._display

    def display(self, screen, renderable):
        if isinstance(renderable, CompositorUpdate):
            written[0] += len(renderable.render_segments(self.console))
        return original(self, screen, renderable)

    App._display = display
    return written


async def frame(pilot) -> None:
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


def ms(seconds: float) -> float:
    return seconds * 1000


async def measure(path: str, appends: int) -> dict[str, str]:
    results: dict[str, str] = {}
    process = psutil.Process()
    app = BenchApp()
    async with app.run_test(size=SIZE) as pilot:
        await frame(pilot)
        gc.collect()
        rss_before = process.memory_info().rss

        start = time.perf_counter()
        pane = LogPane(path)
        await app.mount(pane)
        view = pane.log_view
        await frame(pilot)
        opened = time.perf_counter() - start
        last_row = view.render_line(view.scrollable_content_region.height - 1).text
        assert FINAL_LINE in last_row, last_row
        results["open at tail (mount + first frame)"] = f"{ms(opened):.1f} ms"
        results["lines known at first frame"] = f"{view.line_count:,}"

        while not view.index_complete:
            await asyncio.sleep(0.002)
        indexed = time.perf_counter() - start
        await frame(pilot)
        results["full index ready (background)"] = f"{ms(indexed):.0f} ms"
        results["line count"] = f"{view.line_count:,}"

        start = time.perf_counter()
        view.action_top()
        await frame(pilot)
        results["jump to top + frame"] = f"{ms(time.perf_counter() - start):.1f} ms"
        assert view.render_line(0).text.startswith("2026-02-23T19:17:00Z"), view.render_line(0)

        start = time.perf_counter()
        view.scroll_to(y=view.line_count // 2, animate=False)
        await frame(pilot)
        results["jump to middle + frame"] = f"{ms(time.perf_counter() - start):.1f} ms"

        start = time.perf_counter()
        for _ in range(20):
            view.action_page_down()
            await frame(pilot)
        results["page down x20 (frames included)"] = f"{ms(time.perf_counter() - start):.1f} ms"

        view.action_end()
        await frame(pilot)
        timings = []
        counter = 0
        for _ in range(appends):
            with open(path, "a", encoding="utf-8") as f:
                f.write("".join(f"appended line {counter + i:08d} some payload text here\n"
                                for i in range(1000)))
            counter += 1000
            start = time.perf_counter()
            view.refresh_file()
            await frame(pilot)
            timings.append(time.perf_counter() - start)
        last_row = view.render_line(view.scrollable_content_region.height - 1).text
        assert f"appended line {counter - 1:08d}" in last_row, last_row
        results[f"append 1,000 lines + refresh_file + frame (median of {appends})"] = (
            f"{ms(statistics.median(timings)):.2f} ms (min {ms(min(timings)):.2f}, "
            f"max {ms(max(timings)):.2f})")

        start = time.perf_counter()
        view.search("string that is not in the file")
        while "not found" not in view.status_text:
            await asyncio.sleep(0.002)
        results["search whole file, no match (worker)"] = (
            f"{ms(time.perf_counter() - start):.0f} ms")

        gc.collect()
        results["RSS delta (pane open, indexed, scrolled)"] = (
            f"{(process.memory_info().rss - rss_before) / 2**20:.1f} MB")
        results["index entries (chunks)"] = f"{len(view._index.offsets):,}"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--appends", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    written = patch_display()
    fd, path = tempfile.mkstemp(prefix="bench-log-view-", suffix=".txt", dir="/tmp")
    os.close(fd)
    try:
        start = time.perf_counter()
        size, lines = make_file(path, args.size_mb)
        print(f"file: {path}: {size:,} bytes, {lines:,} lines, written in "
              f"{time.perf_counter() - start:.1f} s")
        results = asyncio.run(measure(path, args.appends))
    finally:
        if not args.keep:
            os.unlink(path)
    width = max(len(k) for k in results)
    print(f"| {'what':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for key, value in results.items():
        print(f"| {key:<{width}} | {value} |")
    print(f"(terminal bytes rendered by headless frames: {written[0]:,})")


if __name__ == "__main__":
    main()
