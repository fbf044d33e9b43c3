"""The codex backend (codex-cli 0.171.0) on the real transcripts in tests/fixtures/real-cli-streams/:
the answer, the failure in codex's words, usage, session, live watching, argv and environment."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conductor.agents.backend import (AGENT, AUTH, CONFIG, LIMIT, NETWORK, Failure, Launch, Usage,
                                      Verdict)
from conductor.agents.codex import BACKEND, NETWORK_STRIKES, CodexWatch, classify, reset_time
from conductor.agents.display import DisplayLine, display_lines

STREAMS = Path(__file__).resolve().parent.parent / "fixtures" / "real-cli-streams"
ANSWER = "There is one file here: `prompt.md`."
KEY_ERROR = ("unexpected status 401 Unauthorized: Incorrect API key provided: dummy. You can find "
             "your API key in your account settings., url: http://127.0.0.1:18778/v1/responses")
WAITING = "Reconnecting... waiting for network (Connection failed: error sending request)"
TOOL_USAGE = Usage(input_tokens=16631, output_tokens=79, cached_tokens=16128, turns=1)


def outcome(name: str, exit_code: int, stderr: str = ""):
    return BACKEND.outcome(str(STREAMS / name), str(STREAMS / stderr) if stderr else "", exit_code)


def events(name: str) -> list[dict]:
    return [json.loads(line) for line in (STREAMS / name).read_text().splitlines() if line.strip()]


def agent(**fields):
    base = dict(name="cx", type="codex", model="", base_url="", args=[], token="")
    return SimpleNamespace(**{**base, **fields})


def argv(resume: str = "", **fields) -> list[str]:
    return BACKEND.argv(Launch(agent=agent(**fields), environ={}, resume=resume))


# ---- the real transcripts ----------------------------------------------------------------------

def test_tool_use_transcript_answer_usage_and_thread() -> None:
    got = outcome("codex-tool-use.jsonl", 0)
    assert (got.answer, got.failure, got.usage) == (ANSWER, None, TOOL_USAGE)
    assert (got.session_id, got.model) == ("01a22c0c-c9ff-7981-baa4-8d57de1467f9", "")


def test_commentary_is_not_the_answer() -> None:
    got = outcome("codex-commentary-then-answer.jsonl", 0)
    assert (got.answer, got.failure, got.usage) == (ANSWER, None, TOOL_USAGE)
    assert got.session_id == "01a22c1d-db8e-7b92-b409-a61d29ac2d17"


def test_invalid_key_is_an_auth_failure_in_codexs_words() -> None:
    got = outcome("codex-invalid-key.jsonl", 1)
    assert (got.answer, got.failure, got.usage) == (None, Failure(AUTH, KEY_ERROR), Usage())
    assert got.session_id == "01a22c10-9f8f-7bd0-8c67-8e546cf47647"


def test_no_network_hang_outcome_has_no_failure_of_its_own() -> None:
    # it never ends by itself: the live watch ends it (below); outcome finds no turn.failed, and
    # the reconnect notices and stderr's tracing lines are not a failure
    got = outcome("codex-no-network-hang.jsonl", -15, "codex-no-network-hang.stderr.txt")
    assert (got.answer, got.failure, got.usage) == (None, None, Usage())
    assert got.session_id == "01a22c06-146f-7b70-ba76-f06b65dd7383"


def test_watch_ends_the_no_network_hang_as_network_failure() -> None:
    watch = CodexWatch()
    verdicts = [watch.feed(event) for event in events("codex-no-network-hang.jsonl")]
    # thread.started and turn.started are progress; retries, the fallback warning and the
    # reconnect lines are not, and the third "waiting for network" in a row ends the run
    assert [v.progress for v in verdicts[:2]] == [True, True]
    assert not any(v.progress for v in verdicts[2:])
    ended = [i for i, v in enumerate(verdicts) if v.failure is not None]
    assert ended[0] == 7 + NETWORK_STRIKES - 1 == 9
    assert verdicts[9].failure == Failure(NETWORK, WAITING)
    assert watch.session_id == "01a22c06-146f-7b70-ba76-f06b65dd7383"


def test_watch_counts_only_waiting_lines_in_a_row() -> None:
    watch = CodexWatch()
    waiting = {"type": "error", "message": WAITING}
    progress = {"type": "item.completed", "item": {"type": "reasoning", "text": "x"}}
    assert [watch.feed(e) for e in (waiting, waiting, progress, waiting, waiting)] == [
        Verdict(False), Verdict(False), Verdict(True), Verdict(False), Verdict(False)]
    assert watch.feed(waiting) == Verdict(False, Failure(NETWORK, WAITING))


def test_watch_tracks_usage_and_session_live() -> None:
    watch = CodexWatch()
    verdicts = [watch.feed(event) for event in events("codex-commentary-then-answer.jsonl")]
    assert all(v == Verdict(True) for v in verdicts)
    assert (watch.usage, watch.session_id) == (TOOL_USAGE, "01a22c1d-db8e-7b92-b409-a61d29ac2d17")
    # the real 401 transcript: the first retry notice of a refused key ends the run as auth
    # (codex would retry the same key five times, ~7 s)
    watch = CodexWatch()
    failures = [watch.feed(e).failure for e in events("codex-invalid-key.jsonl")]
    assert failures[:2] == [None, None]
    assert failures[2] == Failure(AUTH, (
        "unexpected status 401 Unauthorized: Incorrect API key provided: dummy. You can find your "
        "API key in your account settings., url: http://127.0.0.1:18778/v1/responses"))


# ---- usage, failures, model, startup errors ----------------------------------------------------

def test_usage_is_the_threads_latest_total(tmp_path: Path) -> None:
    # codex prints the thread's running total: a resumed thread's turn includes earlier turns
    # (real codex 0.171 against a mock answering 100/40/20/5 per request printed 200/80/40/10)
    turn = {"type": "turn.completed", "usage": {"input_tokens": 200, "cached_input_tokens": 80,
                                                "cache_write_input_tokens": 0, "output_tokens": 40,
                                                "reasoning_output_tokens": 10}}
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(dict(turn, usage={**turn["usage"], "input_tokens": 100})) + "\n"
                    + json.dumps(turn) + "\n")
    assert BACKEND.outcome(str(path), "", 0).usage == Usage(200, 40, 80, None, 2)


def test_model_is_taken_from_codexs_warnings(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    warn = ("This session was recorded with model `m-one` but is resuming with `m-two`. Consider "
            "switching back to `m-one` as it may affect Codex performance.")
    lines = [{"type": "thread.started", "thread_id": "t"},
             {"type": "item.completed", "item": {"id": "item_0", "type": "error", "message": warn}}]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert BACKEND.outcome(str(path), "", 0).model == "m-two"
    meta = "Model metadata for `gpt-x` not found. Defaulting to fallback metadata; this can degrade"
    lines[1]["item"]["message"] = meta
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert BACKEND.outcome(str(path), "", 0).model == "gpt-x"


@pytest.mark.parametrize("message,kind", [
    (KEY_ERROR, AUTH),
    ("exceeded retry limit, last status: 429 Too Many Requests", LIMIT),
    ("exceeded retry limit, last status: 500 Internal Server Error", AGENT),
    (WAITING, NETWORK),
    ("stream disconnected before completion: failed to lookup address information", NETWORK),
    ("model gpt-x does not exist", AGENT),
])
def test_failure_kinds(message: str, kind: str) -> None:
    assert classify(message) == Failure(kind, message, None)


def local(year, month, day, hour, minute) -> float:
    return dt.datetime(year, month, day, hour, minute).timestamp()


def test_usage_limit_reset_times() -> None:
    now = local(2026, 11, 30, 14, 20)
    # what real codex 0.171 printed for a ChatGPT plan's usage_limit_reached (resets in 62 min)
    words = ("You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit "
             "https://chatgpt.com/settings/usage to purchase more credits or try again at 3:21 PM.")
    assert classify(words, now) == Failure(LIMIT, words, local(2026, 11, 30, 15, 21))
    assert reset_time("Try again at 12:05 AM.", now) == local(2026, 12, 1, 0, 5)  # tomorrow
    assert reset_time("or try again at Dec 2nd, 2026 9:07 AM.", now) == local(2026, 12, 2, 9, 7)
    assert reset_time("Please try again in 2m3s.", now) == now + 123
    assert reset_time("You've hit your usage limit. Try again later.", now) is None
    assert time.time() - 1 < reset_time("try again in 1s") < time.time() + 2


def test_startup_errors_come_from_stderr(tmp_path: Path) -> None:
    empty, err = tmp_path / "out.jsonl", tmp_path / "err.txt"
    empty.write_text("")
    cases = [
        (1, "Error: Model provider `nope` not found", Failure(CONFIG, "Error: Model provider `nope` not found")),
        (2, "error: unexpected argument '--bogus' found", Failure(CONFIG, "error: unexpected argument '--bogus' found")),
        (1, "Error: thread/resume: thread/resume failed: no rollout found for thread id x (code -32600)",
         Failure(AGENT, "Error: thread/resume: thread/resume failed: no rollout found for thread id x (code -32600)")),
    ]
    for code, line, failure in cases:
        err.write_text("WARNING: proceeding, even though we could not create PATH aliases\n"
                       f"{line}\n\nStack backtrace:\n   0: <unknown>\n")
        assert BACKEND.outcome(str(empty), str(err), code).failure == failure
    assert BACKEND.describe_exit(1) is None


# ---- argv and environment ----------------------------------------------------------------------

def test_argv_plain_model_base_url_args_and_resume() -> None:
    base = ["codex", "exec", "--dangerously-bypass-approvals-and-sandbox", "--json"]
    assert argv() == base + ["-"]
    assert argv(model="gpt-5.5") == base + ["-m", "gpt-5.5", "-"]
    assert argv(base_url="http://127.0.0.1:9/v1") == base + ["-c", "openai_base_url=http://127.0.0.1:9/v1", "-"]
    assert argv(args=["--skip-git-repo-check", "-c", "x=1"]) == base + ["--skip-git-repo-check", "-c", "x=1", "-"]
    # codex 0.171 accepts the exec options before `resume`; the thread id, then stdin
    assert argv("01a2-thread", model="m", base_url="http://h/v1", args=["--ephemeral"]) == base + [
        "-m", "m", "-c", "openai_base_url=http://h/v1", "--ephemeral", "resume", "01a2-thread", "-"]


def test_token_variables_and_environment() -> None:
    assert BACKEND.token_vars == ("CODEX_API_KEY", "OPENAI_API_KEY")
    assert BACKEND.other_vars == ("OPENAI_ORG_ID",)
    assert BACKEND.environment(Launch(agent=agent(base_url="http://h/v1"), environ={})) == {}
    assert BACKEND.model(Launch(agent=agent(model="gpt-5.5"), environ={})) == "gpt-5.5"


def test_agent_environment_puts_the_token_in_both_and_strips_them_elsewhere(tmp_path: Path) -> None:
    from conductor.runner.env import agent_environment
    base = {"PATH": "/bin", "CODEX_API_KEY": "env-codex", "OPENAI_API_KEY": "env-openai",
            "OPENAI_ORG_ID": "org-1", "ANTHROPIC_API_KEY": "env-claude"}
    common = dict(project="p", task="t", run_id="r", parent_run_id="", task_dir=str(tmp_path / "t"),
                  run_dir=str(tmp_path / "t" / "runs" / "r"), bus_path=str(tmp_path / "bus"))
    codex = agent_environment(base, agent_type="codex", token="sk-cfg", **common)
    assert (codex["CODEX_API_KEY"], codex["OPENAI_API_KEY"], codex["OPENAI_ORG_ID"]) == (
        "sk-cfg", "sk-cfg", "org-1")
    assert "ANTHROPIC_API_KEY" not in codex
    claude = agent_environment(base, agent_type="claude", **common)
    assert not {"CODEX_API_KEY", "OPENAI_API_KEY", "OPENAI_ORG_ID"} & set(claude)
    assert claude["ANTHROPIC_API_KEY"] == "env-claude"


# ---- display -------------------------------------------------------------------------------------

def test_display_of_the_invalid_key_transcript() -> None:
    lines = [display_lines("codex", json.dumps(e)) for e in events("codex-invalid-key.jsonl")]
    assert lines[0] == [DisplayLine("system", "● thread started: 01a22c10-9f8f-7bd0-8c67-8e546cf47647")]
    assert lines[2][0].kind == "system" and lines[2][0].text.startswith("⚠ Reconnecting... 1/1 (unexpected status 401")
    assert lines[4][0].kind == "result" and lines[4][0].text.startswith("✘ turn failed: unexpected status 401 Unauthorized")


def test_display_of_warnings_and_usage() -> None:
    item_error = {"type": "item.completed", "item": {"id": "item_0", "type": "error",
                                                     "message": "Falling back from WebSockets to HTTPS transport."}}
    assert BACKEND.display(item_error) == [DisplayLine("system", "⚠ Falling back from WebSockets to HTTPS transport.")]
    assert BACKEND.display(events("codex-tool-use.jsonl")[-1]) == [DisplayLine(
        "result", "✔ turn completed (in 16631, cached 16128, out 79, reasoning 32 tokens)")]
    assert BACKEND.display({"type": "turn.failed"}) == [DisplayLine("result", "✘ turn failed")]
    answer = events("codex-commentary-then-answer.jsonl")[-2]
    assert BACKEND.display(answer) == [DisplayLine("text", ANSWER)]


def test_every_codex_transcript_is_covered() -> None:
    names = sorted(p.name for p in STREAMS.iterdir() if p.name.startswith("codex-"))
    assert names == ["codex-commentary-then-answer.jsonl", "codex-invalid-key.jsonl",
                     "codex-no-network-hang.jsonl", "codex-no-network-hang.stderr.txt",
                     "codex-tool-use.jsonl"]
    assert os.path.getsize(STREAMS / "codex-no-network-hang.stderr.txt") > 0
