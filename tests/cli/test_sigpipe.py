"""SIGPIPE: a printing verb dies quietly when its reader goes (`run-agent list | head`); a
long-lived one (a supervisor, the console, serve) keeps it ignored, so a write to a closed pipe
or socket of its own (a helper that exited, an event loop's self-pipe) is an error it handles,
never its death."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from conductor.cli.main import main


@pytest.mark.parametrize("verb, expected", [("list", signal.SIG_DFL), ("status", signal.SIG_DFL),
                                            ("task", signal.SIG_IGN), ("job", signal.SIG_IGN),
                                            ("console", signal.SIG_IGN), ("serve", signal.SIG_IGN)])
def test_sigpipe_by_verb(verb, expected, capsys):
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as a fresh interpreter has it
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    assert signal.getsignal(signal.SIGPIPE) == expected


def test_a_printing_verb_piped_into_a_closed_reader_ends_quietly(tmp_path):
    (tmp_path / "p").mkdir()
    for i in range(3000):
        (tmp_path / "p" / f"task-20260101-000000-t{i:04d}").mkdir()
    lister = subprocess.Popen([sys.executable, "-m", "conductor", "list", "--root", str(tmp_path),
                               "--project", "p"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert lister.stdout is not None
    lister.stdout.readline()
    lister.stdout.close()  # the reader goes, as `head -1` would
    _out, err = lister.communicate(timeout=60)
    assert lister.returncode == -signal.SIGPIPE and err == b""
