"""The loop's and the stop verbs' defaults live in conductor.defaults: the CLI's flags and help,
the loop, its policy, the stop verbs and the config all say the same."""

from __future__ import annotations

import inspect

import pytest

from conductor import defaults as df
from conductor import orchestrator
from conductor.cli.main import build_parser, main
from conductor.cli.runner_cmd import loop_options
from conductor.runner import policy, stop
from conductor.runner.ralph import TaskRequest


def parse(*argv: str):
    return build_parser("run-agent", argv[0]).parse_args(list(argv))


def help_text(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_the_loop_and_the_parser_agree():
    request = TaskRequest(root="r", project="p", task="t", agent=None)
    assert (request.max_attempts, request.restart_delay, request.child_wait_timeout,
            request.child_poll_interval, request.dependency_poll) == (
        df.MAX_ATTEMPTS, df.RESTART_DELAY, df.CHILD_WAIT, df.CHILD_POLL, df.DEP_POLL)
    assert (request.failure_limit, request.backoff_max, request.limit_wait_max,
            request.resume_mode) == (df.FAILURE_LIMIT, df.BACKOFF_MAX, df.LIMIT_WAIT_MAX,
                                     df.RESUME_MODE)
    assert policy.RESUME_MODES == df.RESUME_MODES and stop.DEFAULT_GRACE == df.STOP_GRACE
    args = parse("task", "--project", "p")
    assert loop_options(args, None) == {"max_cost_usd": None, "max_tokens": None,
                                        "failure_limit": df.FAILURE_LIMIT,
                                        "limit_wait_max": df.LIMIT_WAIT_MAX,
                                        "resume_mode": df.RESUME_MODE,
                                        "alerts": None}  # no config: no hooks, no webhook
    resume = parse("task", "resume", "--task", "t")
    assert (resume.max_restarts, resume.restart_delay) == (df.RESUME_MAX_ATTEMPTS, df.RESTART_DELAY)
    assert parse("stop").grace == parse("task", "stop", "--project", "p", "--task", "t").grace \
        == df.STOP_GRACE
    assert parse("task", "delete", "--project", "p", "--task", "t").grace == df.DELETE_GRACE


def test_the_help_shows_the_defaults(capsys):
    text = help_text(capsys, "task")
    assert f"attempts in all (default {df.MAX_ATTEMPTS})" in text
    assert "--restart-delay RESTART_DELAY default 1s; 0 means none" in text
    assert f"stuck (default {df.FAILURE_LIMIT})" in text
    assert "usage limit to reset (default 6h)" in text
    assert f"session (default {df.RESUME_MODE})" in text
    assert "wait after SIGTERM (default 30s)" in help_text(capsys, "task", "stop")
    assert "wait after SIGTERM (default 5s)" in help_text(capsys, "task", "delete")
    assert "wait after SIGTERM (default 30s)" in help_text(capsys, "stop")


def test_the_console_verbs_default_to_the_console_grace():
    for verb in (orchestrator.stop_task, orchestrator.stop_run, orchestrator.restart_task):
        assert inspect.signature(verb).parameters["grace"].default == df.CONSOLE_GRACE
    assert inspect.signature(orchestrator.delete_task).parameters["grace"].default == df.DELETE_GRACE


@pytest.mark.parametrize("seconds, text", [(6 * 3600, "6h"), (300, "5m"), (30, "30s"), (1.5, "1.5s"),
                                           (90, "90s")])
def test_short_duration(seconds, text):
    assert df.short_duration(seconds) == text
