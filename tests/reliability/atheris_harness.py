"""Coverage-guided fuzzing with atheris (libFuzzer) of the parsers that read files others write.

Run by tests/reliability/test_fuzz.py as a subprocess (a crash must not take pytest down):

    python tests/reliability/atheris_harness.py TARGET -runs=N -artifact_prefix=DIR/

TARGET is one of bus, runinfo, streams. Any exception other than our typed errors, or a crash of
the interpreter, makes libFuzzer stop with a non-zero status and write the input to DIR.
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from conductor.agents import extract_output
    from conductor.bus import parse
    from conductor.errors import RunInfoError
    from conductor.store import parse_run_info

_SCRATCH = tempfile.mkdtemp(prefix="atheris-")
_STDOUT = os.path.join(_SCRATCH, "agent-stdout.txt")


def fuzz_bus(data: bytes) -> None:
    result = parse(data, final=True)
    assert 0 <= result.consumed <= len(data)
    for msg in result.messages:
        assert isinstance(msg.body, str) and isinstance(msg.msg_id, str)
    parse(data, final=False)


def fuzz_runinfo(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        parse_run_info(text, "/r/p/t/runs/r/run-info.yaml")
    except RunInfoError:
        pass


def fuzz_streams(data: bytes) -> None:
    with open(_STDOUT, "wb") as f:
        f.write(data)
    for agent in ("claude", "codex", "gemini"):
        out = extract_output(agent, _STDOUT)
        assert out is None or isinstance(out, str)


TARGETS = {"bus": fuzz_bus, "runinfo": fuzz_runinfo, "streams": fuzz_streams}


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
