"""`run-agent job` with stub agent CLIs (spec 4.1-4.5, 8.2), and the section-9 fixes."""

import json
import os
import signal
import subprocess
import sys
import time

from .helpers import PROJECT, TASK, bus, runs, task_dir, wait_for

from conductor.runner.prompt import PreambleInfo, build_prompt


def job(stubs, agent, prompt, *extra, env=None):
    return stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                     "--agent", agent, "--prompt", prompt, *extra, env=env)


def test_codex_job_plain_output_is_copied_and_completed(stubs):
    res = job(stubs, "codex", "STUB: say job output", "--parent-run-id", "parent-1")
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    [info] = runs(stubs.root)
    assert (info.status, info.exit_code, info.parent_run_id) == ("completed", 0, "parent-1")
    assert info.agent == "codex" and info.agent_version == "codex-cli 0.171.0"
    assert info.commandline == f"codex exec --dangerously-bypass-approvals-and-sandbox --json - < {info.prompt_path}"
    assert info.pid == info.pgid and info.pid != os.getpid()
    assert open(info.output_path).read() == "job output\n"
    kinds = [m.type for m in bus(stubs.root)]
    assert kinds == ["RUN_START", "RUN_STOP"]
    stop = bus(stubs.root)[1]
    assert stop.body == (f"run stopped with code 0\nrun_dir: {os.path.dirname(info.output_path)}\n"
                         f"output: {info.output_path}")


def test_claude_result_becomes_output_and_gemini_messages_too(stubs):
    assert job(stubs, "claude", "STUB: say the answer is 42").returncode == 0
    assert job(stubs, "gemini", "STUB: say gemini says hi").returncode == 0
    claude, gemini = runs(stubs.root)
    assert open(claude.output_path).read() == "the answer is 42\n"
    assert open(gemini.output_path).read() == "gemini says hi\n"


def test_agent_written_output_is_kept(stubs):
    assert job(stubs, "claude", "STUB: write-output mine\nSTUB: say other").returncode == 0
    assert open(runs(stubs.root)[0].output_path).read() == "mine\n"


def test_prompt_md_is_the_preamble_then_the_prompt(stubs):
    assert job(stubs, "codex", "  STUB: say x  \n").returncode == 0
    info = runs(stubs.root)[0]
    run_dir = os.path.dirname(info.prompt_path)
    expected = build_prompt(PreambleInfo(task_dir(stubs.root), run_dir, PROJECT, TASK, info.run_id,
                                         bus_path=os.path.join(task_dir(stubs.root), "TASK-MESSAGE-BUS.md"),
                                         runs_root=stubs.root), "STUB: say x")
    text = open(info.prompt_path).read()
    assert text == expected
    assert text.startswith(f"JRUN_TASK_FOLDER={task_dir(stubs.root)}\nJRUN_RUN_FOLDER={run_dir}\n")
    assert "\n## Completion\nWhen done, create: " + task_dir(stubs.root) + "/DONE\n" in text
    assert text.endswith("\n---\n\nSTUB: say x\n")
    assert open(os.path.join(task_dir(stubs.root), "TASK.md")).read() == "STUB: say x\n"


def test_failure_exit_codes_and_stderr_tail(stubs):
    res = job(stubs, "codex", "STUB: stderr boom happened\nSTUB: exit 3")
    assert res.returncode == 1
    assert res.stderr.strip().endswith("Error: agent execution failed: agent exited with code 3")
    info = runs(stubs.root)[0]
    assert (info.status, info.exit_code, info.error_summary) == ("failed", 3, "agent exited with code 3")
    crash = bus(stubs.root)[-1]
    assert crash.type == "RUN_CRASH"
    assert crash.body.endswith("\n\n## stderr (last 50 lines)\nboom happened")
    job(stubs, "codex", "STUB: exit 1")
    assert runs(stubs.root)[-1].error_summary == "agent reported failure"


def test_env_contract(stubs):
    env = dict(stubs.env, ANTHROPIC_API_KEY="foreign", OPENAI_API_KEY="own", CLAUDECODE="1",
               openai_org_id="org")
    assert job(stubs, "codex", "STUB: say x", env=env).returncode == 0
    [rec] = stubs.records()
    e = rec["env"]
    td = task_dir(stubs.root)
    assert e["JRUN_RUNS_DIR"] == os.path.join(td, "runs")
    assert e["JRUN_MESSAGE_BUS"] == os.path.join(td, "TASK-MESSAGE-BUS.md")
    assert e["JRUN_TASK_FOLDER"] == td and e["JRUN_PROJECT_ID"] == PROJECT and e["JRUN_TASK_ID"] == TASK
    assert e["JRUN_RUN_FOLDER"] == os.path.join(td, "runs", e["JRUN_ID"])
    assert e["JRUN_PARENT_ID"] == ""
    assert "ANTHROPIC_API_KEY" not in e and "CLAUDECODE" not in e
    assert e["OPENAI_API_KEY"] == "own" and e["openai_org_id"] == "org"
    assert rec["cwd"] == td
    assert rec["pid"] == rec["pgid"] == rec["sid"]  # a session leader


def test_token_from_config_is_injected_and_foreign_keys_stripped(stubs, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("agents:\n  claude:\n    token: sk-config-token\n")
    env = dict(stubs.env, OPENAI_API_KEY="foreign")
    res = stubs.run("job", "--root", stubs.root, "--project", PROJECT, "--task", TASK, "--config",
                    str(cfg), "--agent", "claude", "--prompt", "STUB: say x", env=env)
    assert res.returncode == 0, res.stderr
    e = stubs.records()[0]["env"]
    assert e["ANTHROPIC_API_KEY"] == "sk-config-token" and "OPENAI_API_KEY" not in e
    info = runs(stubs.root)[0]
    assert "sk-config-token" not in open(os.path.join(os.path.dirname(info.prompt_path), "run-info.yaml")).read()
    assert "sk-config-token" not in open(info.prompt_path).read()


def test_run_info_is_written_before_version_detection(stubs):
    env = dict(stubs.env, STUB_VERSION_SLEEP="3")
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "job", "--root", stubs.root, "--project",
                             PROJECT, "--task", TASK, "--agent", "claude", "--prompt", "STUB: say x",
                             "--parent-run-id", "p"], env=env, cwd=stubs.base)
    try:
        info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0], timeout=10)
        # the sentinel names no process group before the agent exists, only its runner
        assert (info.status, info.pid, info.pgid, info.runner_pid) == ("running", 0, 0, proc.pid)
        listing = stubs.run("list", "--root", stubs.root, "--project", PROJECT, "--task", TASK,
                            "--json")
        assert [r["status"] for r in json.loads(listing.stdout)["runs"]] == ["running"]
        assert proc.poll() is None
    finally:
        assert proc.wait(timeout=60) == 0
    assert runs(stubs.root)[0].status == "completed"


def test_missing_binary_gets_run_crash_and_output(stubs):
    env = dict(stubs.env, PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin")
    res = job(stubs, "claude", "STUB: say x", env=env)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == ('Error: agent "claude": binary "claude" not found in '
                                                   'PATH (install: npm install -g @anthropic-ai/claude-code)')
    info = runs(stubs.root)[0]
    assert info.status == "failed" and info.exit_code == -1 and info.end_time is not None
    assert "not found in PATH" in open(info.output_path).read()
    assert [m.type for m in bus(stubs.root)] == ["RUN_CRASH"]
    assert bus(stubs.root)[0].body.startswith("run failed to start\nrun_dir: ")


def test_idle_timeout_kills_the_whole_group(stubs, tmp_path):
    pidfile = tmp_path / "grandchild.pid"
    started = time.monotonic()
    res = job(stubs, "codex", f"STUB: grandchild {pidfile}\nSTUB: sleep 60", "--timeout", "500ms")
    assert time.monotonic() - started < 30
    assert res.returncode == 1
    info = runs(stubs.root)[0]
    assert (info.status, info.error_summary) == ("failed", "timed out")
    grandchild = int(pidfile.read_text())
    wait_for(lambda: not _alive(grandchild), timeout=10)
    warn = bus(stubs.root)[-1]
    assert (warn.type, warn.body) == ("WARN", "agent job timed out after 500ms of idle output")


def test_output_every_120ms_survives_a_200ms_idle_timeout(stubs):
    res = job(stubs, "codex", "STUB: tick 0.12 8", "--timeout", "1s")
    assert res.returncode == 0, res.stderr
    assert runs(stubs.root)[0].status == "completed"


def test_killed_by_signal_is_failed_with_the_signal_named(stubs, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "job", "--root", stubs.root, "--project",
                             PROJECT, "--task", TASK, "--agent", "codex", "--prompt", "STUB: sleep 60"],
                            env=stubs.env, cwd=stubs.base)
    info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].pid > 0 and runs(stubs.root)[0])
    os.killpg(info.pgid, signal.SIGKILL)
    assert proc.wait(timeout=30) == 1
    info = runs(stubs.root)[0]
    assert (info.status, info.exit_code, info.error_summary) == ("failed", -1, "agent killed (OOM or signal)")


def test_terminating_run_agent_forwards_to_the_agent_and_finishes_the_record(stubs):
    proc = subprocess.Popen([sys.executable, "-m", "conductor", "job", "--root", stubs.root, "--project",
                             PROJECT, "--task", TASK, "--agent", "codex", "--prompt", "STUB: sleep 60"],
                            env=stubs.env, cwd=stubs.base)
    info = wait_for(lambda: runs(stubs.root) and runs(stubs.root)[0].pid > 0 and runs(stubs.root)[0])
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 1
    info = runs(stubs.root)[0]
    assert info.status == "failed" and info.error_summary == "agent terminated (SIGTERM)"
    assert not _alive(info.pid)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
