"""Load: 32 processes append 1,000 messages each to one bus while two `bus read --follow`
processes and an in-process BusReader read it. Every message arrives intact, exactly once, at
every reader. Figures for the same load: benchmarks/bench_load.py."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conductor.bus import BusReader, Message, MessageBus

from .conftest import PROJECT, TASK, wait_for

WRITERS = 32
PER_WRITER = 1000
TOTAL = WRITERS * PER_WRITER

WRITER = """
import os, sys, time
from conductor.bus import Message, MessageBus
path, wid, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
while not os.path.exists(go):
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
def test_32_writers_32000_messages_three_readers_each_see_all_once(rig):
    task_dir = rig.task_dir()
    os.makedirs(task_dir)
    path = os.path.join(task_dir, "TASK-MESSAGE-BUS.md")
    go = str(rig.base / "go")
    followers = [rig.spawn("bus", "read", "--root", rig.root, "--project", PROJECT,
                           "--task", TASK, "--follow", "--tail", "0") for _ in range(2)]
    outs = [rig.logs / f"{i}.out" for i in (1, 2)]
    poller = _Poller(path)
    poller.start()
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, f"w{w:02d}",
                                 str(PER_WRITER), go], env=rig.env) for w in range(WRITERS)]
    open(go, "w").close()
    try:
        assert [w.wait(timeout=120) for w in writers] == [0] * WRITERS

        def line_count(p):
            with open(p, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

        # each message prints as one line plus two more for the guarded "---" bodies
        forged = WRITERS * len(range(0, PER_WRITER, 97))
        wait_for(lambda: all(line_count(p) >= TOTAL + 2 * forged for p in outs), timeout=60,
                 interval=0.2, what="followers read everything")
        time.sleep(1.1)  # two more follow intervals: nothing repeated late
    finally:
        poller.stop.set()
        poller.join(timeout=30)
        for f in followers:
            f.send_signal(signal.SIGINT)
        for f in followers:
            f.wait(timeout=10)

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

    for out in outs:
        text = out.read_text()
        assert text.count("\n[") + 1 == TOTAL  # one line starting "[" per message
        firsts = [line.split(") ", 1)[1] for line in text.splitlines() if line.startswith("[")]
        assert firsts == [m.body.split("\n")[0] for m in every]
        assert text.count("\n---\nmsg_id: FORGED\n") == forged  # the body stays a body
