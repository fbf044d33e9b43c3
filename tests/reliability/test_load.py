"""Load: 32 processes append 1,000 messages each to one bus while the console, two
`bus read --follow` processes and an in-process BusReader read it. Every message arrives intact,
exactly once, at every reader. Figures for the same load: benchmarks/bench_load.py."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from console.live import select, until
from conductor.bus import BusReader, Message, MessageBus
from conductor.console.app import ConductorApp
from conductor.console.widgets.bus_feed import MAX_MESSAGES
from conductor.console.widgets.run_tree import NodeRef

from .conftest import PROJECT, TASK

ROW_KEY = re.compile(r"(w\d\d) (w\d\d \d+)(?: …)?$")


def _row_key(row: str) -> str:
    """``12:03:44 FACT      w03 w03 17 …`` -> ``w03 w03 17`` (run column, first body line)."""
    match = ROW_KEY.search(row)
    assert match, row
    return f"{match.group(1)} {match.group(2)}"


WRITERS = 32
PER_WRITER = 1000
TOTAL = WRITERS * PER_WRITER

WRITER = """
import os, sys, time
from conductor.bus import Message, MessageBus
path, wid, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):  # a starting line: every writer waits for the go file
    time.sleep(0.005)
bus = MessageBus(path)
for i in range(count):
    bus.append(Message(type="FACT", project_id="proj", task_id="t", run_id=wid,
                       body=f"{wid} {i}" + ("\\n---\\nmsg_id: FORGED" if i % 97 == 0 else "")))
"""


def _expected_body(wid: str, i: int) -> str:
    return f"{wid} {i}" + ("\n---\nmsg_id: FORGED" if i % 97 == 0 else "")


class _Poller(threading.Thread):
    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.reader = BusReader(path)
        self.seen: list[Message] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.seen += self.reader.poll()
            self.stop.wait(0.05)
        self.seen += self.reader.poll()


@pytest.mark.slow
def test_32_writers_32000_messages_four_readers_each_see_all_once(rig, tmp_path):
    """Readers: the console's bus feed (in-process, live from file events), two
    `bus read --follow` processes and an in-process BusReader polling every 50 ms."""
    task_dir = rig.task_dir()
    os.makedirs(task_dir)
    with open(os.path.join(task_dir, "TASK.md"), "w") as f:
        f.write("a task whose bus takes the load\n")
    path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    open(path, "w").close()
    go = str(rig.base / "go")
    followers = [rig.spawn("bus", "read", "--root", rig.root, "--project", PROJECT,
                           "--task", TASK, "--follow", "--tail", "0") for _ in range(2)]
    outs = [rig.logs / f"{i}.out" for i in (1, 2)]
    poller = _Poller(path)
    on_screen: list[str] = []  # every row the console's feed added, in order
    forged = WRITERS * len(range(0, PER_WRITER, 97))

    def line_count(p):
        with open(p, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    async def scenario():
        app = ConductorApp(rig.root, project=PROJECT, state_path=str(tmp_path / "state.json"))
        async with app.run_test(size=(160, 45)) as pilot:
            await select(pilot, app, NodeRef("task", PROJECT, TASK))
            await until(pilot, lambda: app.feed.path == path and app.feed._reader is not None,
                        20, "feed on the task bus")
            feed_rows = app.feed.list.append_rows

            def record(rows):
                on_screen.extend(row.plain for row in rows)
                feed_rows(rows)
            app.feed.list.append_rows = record
            poller.start()
            writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, f"w{w:02d}",
                                         str(PER_WRITER), go], env=rig.env)
                       for w in range(WRITERS)]
            open(go, "w").close()
            try:
                await until(pilot, lambda: all(w.poll() is not None for w in writers), 180,
                            "writers finished")
                assert [w.returncode for w in writers] == [0] * WRITERS
                # each message prints as one line plus two more for the guarded "---" bodies
                await until(pilot, lambda: all(line_count(p) >= TOTAL + 2 * forged
                                               for p in outs), 60, "followers read everything")
                await until(pilot, lambda: len(on_screen) >= TOTAL, 60, "console read everything")
                # an absence check, not synchronisation: two more follow intervals in which
                # nothing may repeat late (load can only make it see fewer polls, never fail it)
                await pilot.pause(1.1)
                shown = [m.msg_id for m in app.feed.messages]
                title = str(app.feed.query_one("#bus-title").render())
            finally:
                for w in writers:
                    if w.poll() is None:
                        w.kill()
                poller.stop.set()
                poller.join(timeout=30)
                for f in followers:
                    f.send_signal(signal.SIGINT)
                for f in followers:
                    f.wait(timeout=10)
            return shown, title

    shown, title = asyncio.run(scenario())

    every = MessageBus(path).read_all()
    assert len(every) == TOTAL
    assert len({m.msg_id for m in every}) == TOTAL
    by_writer: dict[str, list[str]] = collections.defaultdict(list)
    for m in every:
        by_writer[m.run_id].append(m.body)
    assert sorted(by_writer) == [f"w{w:02d}" for w in range(WRITERS)]
    for wid, bodies in by_writer.items():
        assert bodies == [_expected_body(wid, i) for i in range(PER_WRITER)]

    assert [m.msg_id for m in poller.seen] == [m.msg_id for m in every]
    assert [m.body for m in poller.seen] == [m.body for m in every]

    # the console: every message once, in file order; it holds the newest MAX_MESSAGES
    assert [_row_key(row) for row in on_screen] == \
        [f"{m.run_id} {m.body.split(chr(10))[0]}" for m in every]
    assert shown == [m.msg_id for m in every[-MAX_MESSAGES:]]
    assert f"{MAX_MESSAGES} messages" in title

    for out in outs:
        text = out.read_text()
        assert text.count("\n[") + 1 == TOTAL  # one line starting "[" per message
        firsts = [line.split(") ", 1)[1] for line in text.splitlines() if line.startswith("[")]
        assert firsts == [m.body.split("\n")[0] for m in every]
        assert text.count("\n---\nmsg_id: FORGED\n") == forged  # the body stays a body
