"""Typos on the command line: an unknown flag is reported as a flag, and both an unknown flag
and an unknown command say what was probably meant (cobra's ``Did you mean this?`` block).
The first line stays cobra's own (``Error: unknown flag: --x``, ``Error: unknown command "x"
for "prog"``), byte for byte."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conductor.cli.main import main


def run(monkeypatch, capsys, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["run-agent"])
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(("argv", "stderr"), [
    # a misspelt flag before a value: the flag, not the value as a command
    (["task", "--agnet", "claude"], "Error: unknown flag: --agnet\n\nDid you mean this?\n\t--agent\n\n"),
    (["task", "--agnet=claude"], "Error: unknown flag: --agnet\n\nDid you mean this?\n\t--agent\n\n"),
    # a misspelt flag wins over the required flags it leaves unset (cobra parses flags first)
    (["task", "stop", "--projet", "p", "--task", "t"],
     "Error: unknown flag: --projet\n\nDid you mean this?\n\t--project\n\n"),
    (["tsk"], 'Error: unknown command "tsk" for "run-agent"\n\nDid you mean this?\n\ttask\n\n'),
    (["lst"], 'Error: unknown command "lst" for "run-agent"\n\nDid you mean this?\n\tlist\n\n'),
    (["bus", "pots"],
     'Error: unknown command "pots" for "run-agent bus"\n\nDid you mean this?\n\tpost\n\n'),
    # nothing close: cobra's line alone
    (["bus", "post", "--nosuch"], "Error: unknown flag: --nosuch\n"),
    (["zzzzzz"], 'Error: unknown command "zzzzzz" for "run-agent"\n'),
])
def test_typos_name_the_flag_or_command_and_what_was_meant(monkeypatch, capsys, tmp_path,
                                                          argv, stderr):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONDUCTOR_ROOT", raising=False)
    assert run(monkeypatch, capsys, *argv) == (1, "", stderr)


def test_a_correct_command_never_imports_difflib(subprocess_env, tmp_path):
    code = ("import sys\nfrom conductor.cli.main import main\nsys.argv = ['run-agent']\n"
            "main(['list', '--root', %r])\n"
            "print('difflib' in sys.modules)\n"
            "main(['tsk'])\nprint('difflib' in sys.modules)\n") % str(tmp_path / "runs")
    res = subprocess.run([sys.executable, "-c", code], env=subprocess_env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.splitlines()[-2:] == ["False", "True"]
    assert res.stderr.endswith('Error: unknown command "tsk" for "run-agent"\n\n'
                               "Did you mean this?\n\ttask\n\n")
