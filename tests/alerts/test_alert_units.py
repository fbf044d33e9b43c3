"""The pieces without processes: Go-compatible JSON, event filters, config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor.alerts.events import EVENTS, go_float, go_json
from conductor.alerts.targets import Targets
from conductor.config import load_config
from conductor.config.model import HOOK_EVENTS
from conductor.errors import ConfigError


@pytest.mark.parametrize("value, text", [
    (1.5, "1.5"), (2.0, "2"), (0.0, "0"), (1e-7, "1e-07"), (1.5e-7, "1.5e-07"),
    (1e21, "1e+21"), (1e20, "100000000000000000000"), (0.00001, "0.00001"),
    (123456789.125, "123456789.125")])
def test_floats_are_written_as_go_writes_them(value: float, text: str) -> None:
    assert go_float(value) == text


def test_strings_are_escaped_as_go_escapes_them() -> None:
    assert go_json([("a", "<b>&\u2028\n\x01é"), ("n", 3), ("f", 0.25), ("t", True)]) == \
        b'{"a":"\\u003cb\\u003e\\u0026\\u2028\\n\\u0001\xc3\xa9","n":3,"f":0.25,"t":true}'


def test_hooks_and_webhook_events() -> None:
    assert EVENTS == HOOK_EVENTS
    targets = Targets([{"argv": ["a"], "on": [], "timeout": 1.0},
                       {"argv": ["b"], "on": ["done"], "timeout": 1.0}],
                      {"url": "http://x", "events": [], "secret": "", "timeout": 10.0})
    assert targets.for_event("done") == ["hook-0", "hook-1"]
    assert targets.for_event("needs-you") == ["hook-0"]
    assert targets.for_event("run_stop") == ["webhook"]  # empty events: upstream's run_stop
    targets.webhook = {**targets.webhook, "events": ["done", "needs-you"]}
    assert targets.for_event("run_stop") == []
    assert targets.for_event("needs-you") == ["hook-0", "webhook"]
    assert "secret" not in repr(targets)


@pytest.mark.parametrize("text, error", [
    ("hooks:\n  - command: [notify-send]\n    on: [needs-you, nope]\n",
     'config.yaml:3: hooks[0].on[1]: unknown event "nope"; events: needs-you, done, failed, '
     "stuck, budget, limit, loop-lost"),
    ("hooks:\n  - on: [done]\n",
     "config.yaml:2: hooks[0].command: must name a program to run (a list such as "
     "[notify-send, conductor])"),
    ("hooks:\n  - command: [x]\n    timeout: soon\n",
     'config.yaml:3: hooks[0].timeout: must be a positive duration such as "10s", got "soon"'),
    ("hooks:\n  command: [x]\n",
     "config.yaml:2: hooks: must be a list of hooks (mappings with command, on, timeout), "
     "got a mapping"),
    ("hooks:\n  - [x]\n",
     "config.yaml:2: hooks[0]: must be a mapping with command (a list of words), on and "
     "timeout"),
])
def test_bad_hooks_are_one_line_naming_the_field(tmp_path: Path, monkeypatch, text: str,
                                                  error: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(tmp_path / "config.yaml"))
    assert str(caught.value) == error


def test_hooks_read(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("hooks:\n  - command: [notify-send, conductor]\n"
                                     "    on: [needs-you, done]\n    timeout: 10s\n"
                                     "  - command: echo 'a b'\n")
    hooks = load_config(str(tmp_path / "c.yaml")).hooks
    assert [(h.command, h.on, h.timeout) for h in hooks] == [
        (["notify-send", "conductor"], ["needs-you", "done"], "10s"), (["echo", "a b"], [], "30s")]


def test_old_delivered_events_are_pruned_pending_ones_kept(tmp_path: Path) -> None:
    import os

    from conductor.alerts import outbox
    task_dir = tmp_path / "runs" / "proj" / "task-20261130-120000-prune"
    task_dir.mkdir(parents=True)
    names = []
    for index in range(8):
        name = outbox.enqueue(str(task_dir), f"done:run-{index}", {"event": "done"}, ["hook-0"])
        assert name is not None
        os.utime(task_dir / "alerts" / name, ns=(index * 10**9, index * 10**9))
        if index != 0:  # the oldest one is still pending
            outbox.mark_done(str(task_dir), name, "hook-0")
        names.append(name)
    assert outbox.enqueue(str(task_dir), "done:run-3", {}, ["hook-0"]) is None  # fired once
    assert outbox.prune(str(task_dir), keep=5) == 3
    left = sorted(os.listdir(task_dir / "alerts"))
    kept = [names[0]] + names[4:]  # the pending one and the newest delivered
    assert left == sorted(kept + [outbox.done_name(n, "hook-0") for n in names[4:]])
