"""The gemini backend (gemini-cli 0.61.0) on the real transcripts in
tests/fixtures/real-cli-streams/ and on events captured from the real program."""

from __future__ import annotations

import calendar
import json
import sys
from pathlib import Path

import pytest

from conductor.agents.backend import (AGENT, AUTH, CONFIG, LIMIT, NETWORK, NO_ANSWER, UNTRUSTED,
                                      Failure, Launch, Usage, Verdict)
from conductor.agents.display import DisplayLine
from conductor.agents.gemini import BACKEND, stderr_reason
from conductor.config.model import AgentConfig

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real-cli-streams"
BASE = ["gemini", "--screen-reader", "true", "--approval-mode", "yolo", "--output-format",
        "stream-json"]
UNTRUSTED_TEXT = (
    "Gemini CLI is not running in a trusted directory. To proceed, either use `--skip-trust`, set "
    "the `GEMINI_CLI_TRUST_WORKSPACE=true` environment variable, or trust this directory in "
    "interactive mode. For more details, see "
    "https://geminicli.com/docs/cli/trusted-folders/#headless-and-automated-environments")
# the result of the real gemini 0.61.0 after ten HTTP 429s carrying "retryDelay": "30s" (exit 173)
LIMIT_RESULT = {
    "type": "result", "timestamp": "2026-11-30T14:18:28.571Z", "status": "error",
    "error": {"type": "unknown", "message": (
        "[API Error: Resource has been exhausted (e.g. check quota).\nSuggested retry after 30s.]\n"
        "Please wait and try again later. To increase your limits, request a quota increase "
        "through AI Studio, or switch to another /auth method")},
    "stats": {"total_tokens": 0, "input_tokens": 0, "output_tokens": 0, "cached": 0, "input": 0,
              "duration_ms": 0, "tool_calls": 0,
              "models": {"gemini-2.5-flash": {"total_tokens": 0, "input_tokens": 0,
                                               "output_tokens": 0, "cached": 0, "input": 0}}}}


def real(name: str) -> str:
    return str(REAL / name)


def outcome(stdout: str, stderr: str, code: int):
    return BACKEND.outcome(stdout, stderr, code)


def events(name: str) -> list[dict]:
    return [json.loads(line) for line in open(real(name))]


def write(tmp_path: Path, name: str, lines: list[dict]) -> str:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def launch(tmp_path: Path | None = None, environ=None, **fields) -> Launch:
    agent = AgentConfig(name="gem", type="gemini", **fields)
    return Launch(agent=agent, environ=environ if environ is not None else {"PATH": "/usr/bin:/bin"},
                  cwd=str(tmp_path) if tmp_path else "")


# ---- the real transcripts ---------------------------------------------------------------------

def test_tool_use_answer_is_the_text_after_the_last_tool_result() -> None:
    got = outcome(real("gemini-tool-use.jsonl"), "", 0)
    assert got.answer == "There is one file here: `prompt.md`."
    assert got.failure is None
    assert got.usage == Usage(input_tokens=18430, output_tokens=48, cached_tokens=8000,
                              cost_usd=None, turns=2)
    assert got.session_id == "a5b180e4-69d1-41ca-b0f3-e1e3c8f35e2d"
    assert got.model == "gemini-2.5-pro"  # init says "auto"; stats.models names the worker


def test_tool_use_display() -> None:
    assert [BACKEND.display(event) for event in events("gemini-tool-use.jsonl")] == [
        [DisplayLine("system", "● session init: model auto")],
        [],  # the prompt, echoed
        [DisplayLine("text", "Let me look at the files.", join=True)],
        [DisplayLine("tool", "⚙ run_shell_command: ls -1")],
        [DisplayLine("tool", "  ↳ success: err1.txt (+6 lines)")],
        [DisplayLine("text", "There is o", join=True)],
        [DisplayLine("text", "ne file here: `prompt.md`.", join=True)],
        [DisplayLine("result", "✔ result: success (18528 tokens, 1 tool call, 1.7s)")],
    ]


def test_api_error_is_an_auth_failure_in_the_apis_words() -> None:
    got = outcome(real("gemini-api-error.jsonl"), real("gemini-api-error.stderr.txt"), 144)
    assert got.answer is None
    assert got.failure == Failure(
        AUTH, "API key not valid. Please pass a valid API key. (HTTP 400 INVALID_ARGUMENT)")
    assert got.usage == Usage()
    assert (got.session_id, got.model) == ("21784e19-2a7a-40d9-ab82-9c512a58d73c", "auto")
    assert BACKEND.display(events("gemini-api-error.jsonl")[-1]) == [DisplayLine(
        "result", "✘ result: error: API key not valid. Please pass a valid API key. "
                  "(HTTP 400 INVALID_ARGUMENT)")]


def test_no_network_is_a_network_failure() -> None:
    got = outcome(real("gemini-no-network.jsonl"), real("gemini-no-network.stderr.txt"), 1)
    assert got.answer is None
    assert got.failure == Failure(NETWORK, "exception TypeError: fetch failed sending request")
    assert got.session_id == "5b7318c5-a670-4c5e-91ac-3ebcf0039a72"


def test_no_auth_exit_41_gives_geminis_reason(tmp_path: Path) -> None:
    empty = str(tmp_path / "stdout")
    Path(empty).write_text("")
    got = outcome(empty, real("gemini-no-auth.stderr.txt"), 41)
    assert got.answer is None
    assert got.failure == Failure(AUTH, (
        "Please set an Auth method in your /scratch/home/.gemini/settings.json or specify one of "
        "the following environment variables before running: GEMINI_API_KEY, "
        "GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_GCA"))


def test_untrusted_folder_exit_55_gives_geminis_sentence_without_colour(tmp_path: Path) -> None:
    empty = str(tmp_path / "stdout")
    Path(empty).write_text("")
    got = outcome(empty, real("gemini-untrusted-folder.stderr.txt"), 55)
    assert got.failure == Failure(UNTRUSTED, UNTRUSTED_TEXT)


# ---- failures seen from the real program (captured by hand, see docs) ---------------------------

def test_a_429_is_a_limit_that_resets_after_the_retry_delay(tmp_path: Path) -> None:
    stdout = write(tmp_path, "out.jsonl", [
        {"type": "init", "timestamp": "2026-11-30T14:13:38.795Z", "session_id": "c233",
         "model": "gemini-2.5-flash"}, LIMIT_RESULT])
    got = outcome(stdout, "", 173)
    assert got.failure == Failure(LIMIT, (
        "Resource has been exhausted (e.g. check quota). Suggested retry after 30s. Please wait "
        "and try again later. To increase your limits, request a quota increase through AI "
        "Studio, or switch to another /auth method"),
        reset_at=calendar.timegm((2026, 11, 30, 14, 18, 28, 0, 0, 0)) + 0.571 + 30)
    assert (got.session_id, got.model) == ("c233", "gemini-2.5-flash")


@pytest.mark.parametrize("code,status,kind", [
    (401, "UNAUTHENTICATED", AUTH), (403, "PERMISSION_DENIED", AUTH),
    (429, "RESOURCE_EXHAUSTED", LIMIT), (500, "INTERNAL", AGENT)])
def test_http_errors_in_the_result(tmp_path: Path, code: int, status: str, kind: str) -> None:
    body = {"error": {"code": code, "message": "mock error", "status": status,
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                   "retryDelay": "12s"}]}}
    stdout = write(tmp_path, "out.jsonl", [{
        "type": "result", "timestamp": "2026-11-30T10:00:00.000Z", "status": "error",
        "error": {"type": "unknown", "message": f"[API Error: {json.dumps(body)}]"}}])
    reset = calendar.timegm((2026, 11, 30, 10, 0, 0, 0, 0, 0)) + 12 if kind == LIMIT else None
    assert outcome(stdout, "", code & 0xFF).failure == Failure(
        kind, f"mock error (HTTP {code} {status})", reset)


@pytest.mark.parametrize("code,kind,name", [
    (41, AUTH, "no usable authentication"), (42, CONFIG, "bad input"),
    (44, CONFIG, "sandbox error"), (52, CONFIG, "configuration error"),
    (53, AGENT, "session turn limit reached"), (54, AGENT, "tool error"),
    (55, UNTRUSTED, "the folder is not trusted"), (130, AGENT, "cancelled")])
def test_exit_codes_are_named(code: int, kind: str, name: str) -> None:
    assert BACKEND.describe_exit(code) == Failure(kind, f"gemini: {name} (exit {code})")


@pytest.mark.parametrize("code,kind,status", [
    (144, AGENT, 400), (145, AUTH, 401), (147, AUTH, 403), (148, AGENT, 404), (173, LIMIT, 429),
    (244, AGENT, 500), (247, AGENT, 503)])
def test_http_status_exits_are_named(code: int, kind: str, status: int) -> None:
    assert BACKEND.describe_exit(code) == Failure(kind, f"gemini: HTTP {status} (exit {code})")


def test_exit_codes_gemini_does_not_use_are_not_named() -> None:
    assert [BACKEND.describe_exit(code) for code in (1, 2, 137, 143)] == [None] * 4


def test_empty_stdout_and_stderr_fall_back_to_the_exit_name(tmp_path: Path) -> None:
    empty = str(tmp_path / "empty")
    Path(empty).write_text("")
    assert outcome(empty, empty, 173).failure == Failure(LIMIT, "gemini: HTTP 429 (exit 173)")
    assert outcome(empty, empty, 3).failure == Failure(AGENT, "gemini exited with status 3")


def test_a_bad_resume_is_exit_42_with_geminis_words(tmp_path: Path) -> None:
    # gemini 0.61.0 with --resume of an unknown session id (stdout empty)
    stderr = tmp_path / "stderr"
    stderr.write_text(
        'Error resuming session: Invalid session identifier "0000".\n'
        "  Searched for sessions in /home/u/.gemini/tmp/work/chats.\n")
    empty = str(tmp_path / "empty")
    Path(empty).write_text("")
    # not "bad input" for ever: the session was never saved (a 429 on gemini's first request
    # leaves none), so it is an ordinary failure and the next attempt starts fresh
    assert outcome(empty, str(stderr), 42).failure == Failure(
        AGENT, 'Error resuming session: Invalid session identifier "0000".')


def test_a_stop_from_outside_is_left_to_the_runner(tmp_path: Path) -> None:
    stdout = write(tmp_path, "out.jsonl", events("gemini-tool-use.jsonl")[:3])
    for code in (-15, 143, 137):
        got = outcome(stdout, "", code)
        assert got.failure is None and got.answer == "Let me look at the files."


def test_an_error_event_is_the_failure(tmp_path: Path) -> None:
    lines = [*events("gemini-tool-use.jsonl")[:3],
             {"type": "error", "severity": "warning", "message": "Loop detected, stopping execution"},
             {"type": "error", "severity": "error", "message": "Maximum session turns exceeded"},
             {"type": "result", "status": "success", "stats": {}}]
    got = outcome(write(tmp_path, "out.jsonl", lines), "", 0)
    assert (got.answer, got.failure) == (None, Failure(AGENT, "Maximum session turns exceeded"))
    assert BACKEND.display(lines[3]) == [DisplayLine("system", "warning: Loop detected, stopping execution")]
    assert BACKEND.display(lines[4]) == [DisplayLine("system", "error: Maximum session turns exceeded")]


def test_success_without_text_is_no_answer(tmp_path: Path) -> None:
    lines = [*events("gemini-tool-use.jsonl")[:5], events("gemini-tool-use.jsonl")[-1]]
    got = outcome(write(tmp_path, "out.jsonl", lines), "", 0)
    assert got.failure == Failure(NO_ANSWER, "gemini finished without an answer")


def test_stderr_reason_skips_chatter_and_stack_frames() -> None:
    assert stderr_reason(open(real("gemini-no-network.stderr.txt")).read()) == (
        "Error generating content via API. Full report available at: "
        "/scratch/gemini-client-error-generateJson-api-2026-11-30T11-02-45-206Z.json "
        "Error: exception TypeError: fetch failed sending request")
    assert stderr_reason("\x1b[33mYOLO mode is enabled.\x1b[0m\n}\n") == ""


# ---- live reading -------------------------------------------------------------------------------

def test_watch_reads_session_model_and_usage_and_counts_real_events() -> None:
    watch = BACKEND.watch()
    verdicts = [watch.feed(event) for event in events("gemini-tool-use.jsonl")]
    assert verdicts == [Verdict(progress=True)] * 8
    assert (watch.session_id, watch.model) == ("a5b180e4-69d1-41ca-b0f3-e1e3c8f35e2d", "gemini-2.5-pro")
    assert watch.usage == Usage(18430, 48, 8000, None, 2)
    assert watch.feed({"type": "something-else"}) == Verdict(progress=False)


def test_watch_keeps_the_error_event_and_lets_gemini_end_the_run() -> None:
    watch = BACKEND.watch()
    verdict = watch.feed({"type": "error", "severity": "error", "message": "Maximum session turns exceeded"})
    assert verdict == Verdict(progress=True, failure=None)
    assert watch.error == "Maximum session turns exceeded"


# ---- display of chunks --------------------------------------------------------------------------

def test_chunks_with_newlines_start_new_rows() -> None:
    def chunk(text: str) -> list[DisplayLine]:
        return BACKEND.display({"type": "message", "role": "assistant", "content": text, "delta": True})
    assert chunk("one\ntwo") == [DisplayLine("text", "one", join=True), DisplayLine("text", "two")]
    assert chunk("\nnext") == [DisplayLine("text", "next")]
    assert chunk("end\n") == [DisplayLine("text", "end", join=True), DisplayLine("text", "")]
    assert BACKEND.display({"type": "message", "role": "assistant", "content": "whole\n"}) == [
        DisplayLine("text", "whole")]


# ---- starting -----------------------------------------------------------------------------------

def test_argv_and_environment_by_default() -> None:
    run = launch()
    assert BACKEND.argv(run) == BASE + ["--skip-trust"]
    assert BACKEND.environment(run) == {"GEMINI_CLI_TRUST_WORKSPACE": "true",
                                        "GEMINI_CLI_NO_RELAUNCH": "true"}


def test_argv_with_model_resume_args_and_no_trust() -> None:
    run = launch(model="gemini-2.5-flash", args=["--debug"], trust_folder=False,
                 base_url="http://127.0.0.1:9/")
    run.resume = "1f7df54a-c2c9-4c5d-a25b-d175eaf3dd27"
    assert BACKEND.argv(run) == BASE + ["-m", "gemini-2.5-flash", "--resume",
                                        "1f7df54a-c2c9-4c5d-a25b-d175eaf3dd27", "--debug"]
    assert BACKEND.environment(run) == {"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9/",
                                        "GEMINI_CLI_NO_RELAUNCH": "true"}


def test_preflight_refuses_a_base_url_without_an_auth_type(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    gemini = tmp_path / "bin" / "gemini"
    gemini.parent.mkdir()
    gemini.write_text("#!/bin/sh\n")
    gemini.chmod(0o755)
    environ = {"PATH": str(gemini.parent), "HOME": str(home),
               "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(tmp_path / "none.json"),
               "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(tmp_path / "none.json")}
    run = launch(tmp_path, environ, base_url="http://127.0.0.1:9")
    assert BACKEND.preflight(run) == [Failure(AUTH, (
        'agent "gem": with a base_url gemini picks "gateway" auth, which it refuses headless '
        '(exit 41 "Invalid auth method selected."); select API-key auth in ~/.gemini/settings.json: '
        '{"security":{"auth":{"selectedType":"gemini-api-key"}}}'))]
    (home / ".gemini" / "settings.json").write_text(
        '{\n  // gemini allows comments\n  "security": {"auth": {"selectedType": "gemini-api-key"}}\n}\n')
    assert BACKEND.preflight(run) == []
    assert BACKEND.preflight(launch(tmp_path, environ)) == []  # no base_url: the key alone works


def test_a_version_probe_that_times_out_is_an_empty_version(tmp_path: Path, monkeypatch) -> None:
    from conductor.agents import detect_version
    stub = tmp_path / "gemini"
    source = Path(__file__).resolve().parent.parent / "fixtures" / "stub_agent.py"
    stub.write_text(f"#!{sys.executable}\n" + source.read_text())
    stub.chmod(0o755)
    monkeypatch.setenv("STUB_FIXTURES", str(source.parent))
    monkeypatch.setenv("STUB_VERSION_WAIT_FILE", str(tmp_path / "never"))
    assert detect_version(str(stub), 0.5) == ""
    monkeypatch.delenv("STUB_VERSION_WAIT_FILE")
    assert detect_version(str(stub), BACKEND.version_timeout) == "0.61.0"


def test_preflight_refuses_an_explicit_gateway_auth_with_a_base_url(tmp_path: Path) -> None:
    settings = tmp_path / "system.json"
    settings.write_text('{"security": {"auth": {"selectedType": "gateway"}}}')
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "nohome"),
               "GEMINI_CLI_SYSTEM_SETTINGS_PATH": str(settings),
               "GEMINI_CLI_SYSTEM_DEFAULTS_PATH": str(tmp_path / "none.json")}
    run = launch(tmp_path, environ, base_url="http://127.0.0.1:9")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gemini").write_text("#!/bin/sh\n")
    (bin_dir / "gemini").chmod(0o755)
    environ["PATH"] = str(bin_dir)
    assert [f.kind for f in BACKEND.preflight(run)] == [AUTH]
    settings.write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    assert BACKEND.preflight(run) == []


from hypothesis import given, settings as hsettings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "role", "content", "delta", "model", "session_id", "stats",
                         "models", "total_tokens", "status", "error", "message", "severity",
                         "timestamp", "tool_name", "parameters", "output"]), children, max_size=5),
    max_leaves=20)
_events = st.fixed_dictionaries(
    {"type": st.sampled_from(["init", "message", "tool_use", "tool_result", "error", "result"])
     | _values}, optional={"role": _values, "content": _values, "delta": _values,
                           "stats": _values, "error": _values, "status": _values,
                           "timestamp": _values, "model": _values, "severity": _values})


@hsettings(max_examples=50, deadline=None)
@given(st.lists(_events, max_size=8), st.sampled_from([0, 1, 41, 55, 144, 173, -15]))
def test_odd_events_never_raise(tmp_path_factory, lines, code) -> None:
    path = tmp_path_factory.mktemp("odd") / "out.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    got = outcome(str(path), "", code)
    assert got.answer is None or got.answer.strip()
    watch = BACKEND.watch()
    for line in lines:
        assert isinstance(watch.feed(line).progress, bool)
        assert all(isinstance(row, DisplayLine) for row in BACKEND.display(line))


def test_a_session_that_never_reached_the_model_is_not_resumable() -> None:
    # gemini names a session in init, but saves it only once the model answered: a 429 on the
    # first request leaves nothing to --resume (it would exit 42, "No previous sessions found")
    failed = outcome(str(REAL / "gemini-api-error.jsonl"),
                     str(REAL / "gemini-api-error.stderr.txt"), 144)
    assert failed.session_id and not failed.resumable
    ok = outcome(str(REAL / "gemini-tool-use.jsonl"), "", 0)
    assert ok.session_id and ok.resumable
