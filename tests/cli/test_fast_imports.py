"""What the fast verbs import, read from ``python -X importtime`` of a fresh process.

Agents and operators call ``bus post`` and ``bus read`` many times; each module below costs
milliseconds of a start-up whose budget is a small multiple of Python's own (docs/performance.md,
benchmarks/bench_verbs.py). A module that creeps back onto one of these paths fails here with
its name.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROJECT, TASK, RUN = "proj", "task-20260220-153045-fast", "20260220-1530450000-1-0001"

# what neither `bus post` nor `bus read` needs, whichever way its scope is given
BUS_FORBIDDEN = ("yaml", "dataclasses", "logging", "tempfile", "typing", "inspect", "shutil",
                 "threading", "secrets", "psutil", "textual", "rich", "difflib",
                 "conductor.store.runinfo", "conductor.config.loader", "conductor.config.model",
                 "conductor.console", "conductor.agents", "conductor.runner")
# the read verbs never start the console or an agent, and read plain run-info files (as
# upstream and we write them) without PyYAML
READ_FORBIDDEN = ("textual", "rich", "psutil", "conductor.console", "conductor.agents",
                  "conductor.bus", "yaml", "logging", "threading")


# `python -m conductor ARGS`, and at exit every module loaded: -X importtime does not log a
# module loaded through importlib.import_module (the lazy names of conductor.store and
# conductor.config), sys.modules has them all.
MAIN = ("import atexit, runpy, sys; "
        "atexit.register(lambda: sys.stderr.write('MODULES ' + ' '.join(sys.modules) + '\\n')); "
        "sys.argv = ['run-agent', *sys.argv[1:]]; runpy.run_module('conductor', run_name='__main__')")


def imported(env, args, cwd) -> set[str]:
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", MAIN, *args], env=env,
                         cwd=cwd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
        elif line.startswith("MODULES "):
            names.update(line.split()[1:])
    assert "conductor.cli.main" in names and "conductor.store" in names  # both lists were read
    return names


def offending(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.fixture
def root(tmp_path):
    run_dir = tmp_path / "runs" / PROJECT / TASK / "runs" / RUN
    run_dir.mkdir(parents=True)
    return tmp_path / "runs"


@pytest.fixture
def agent_env(root, subprocess_env):
    task_dir = root / PROJECT / TASK
    return dict(subprocess_env, JRUN_PROJECT_ID=PROJECT, JRUN_TASK_ID=TASK, JRUN_ID=RUN,
                JRUN_RUN_FOLDER=str(task_dir / "runs" / RUN), JRUN_TASK_FOLDER=str(task_dir),
                JRUN_MESSAGE_BUS=str(task_dir / "TASK-MESSAGE-BUS.md"))


@pytest.mark.parametrize("args", [["bus", "post", "--type", "FACT", "--body", "x"],
                                  ["bus", "read", "--tail", "20"]])
def test_agent_bus_verbs_import_nothing_heavy(root, agent_env, args):
    cwd = str(root / PROJECT / TASK / "runs" / RUN)
    assert offending(imported(agent_env, args, cwd), BUS_FORBIDDEN) == []


@pytest.mark.parametrize("verb", [["bus", "post", "--body", "x"], ["bus", "read", "--tail", "20"]])
@pytest.mark.parametrize("with_root", [True, False], ids=["--root", "default-root"])
def test_operator_bus_verbs_import_nothing_heavy(root, subprocess_env, tmp_path, verb, with_root):
    """``--root R --project P --task T`` from an ordinary directory; without ``--root`` the
    default root under $HOME is used (no config file: the config loader is not imported)."""
    env = dict(subprocess_env)
    flags = ["--project", PROJECT, "--task", TASK]
    if with_root:
        flags = ["--root", str(root), *flags]
    else:
        default = tmp_path / "home" / ".run-agent" / "runs" / PROJECT / TASK
        default.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert offending(imported(env, [*verb, *flags], str(elsewhere)), BUS_FORBIDDEN) == []


@pytest.mark.parametrize("verb", ["list", "status"])
def test_list_and_status_import_no_console_agent_or_yaml(root, subprocess_env, tmp_path, verb):
    from conductor.store import RunInfo, write_run_info
    write_run_info(str(root / PROJECT / TASK / "runs" / RUN / "run-info.yaml"),
                   RunInfo(run_id=RUN, project_id=PROJECT, task_id=TASK, status="completed",
                           exit_code=0, start_time=1771601145 * 10**9))
    assert offending(imported(subprocess_env, [verb, "--root", str(root), "--project", PROJECT],
                              str(tmp_path)), READ_FORBIDDEN) == []


# `list` and `status` read the newest run of each task: no process probe (psutil) unless that
# run is `running`, no runner (dependencies are the store's), no task-config reader without a
# TASK-CONFIG.yaml, no bus unless a --status word of the task states asks for them (a
# QUESTION on the bus comes before the other states)
LIST_STATUS_FORBIDDEN = READ_FORBIDDEN + ("conductor.runner", "conductor.store.taskfiles")


@pytest.mark.parametrize("args", [["list"], ["status"], ["status", "--task", TASK],
                                  ["list", "--status", "running"]])
def test_list_and_status_read_the_newest_run_only(root, subprocess_env, tmp_path, args):
    """An older run that claims to run is not read, so nothing probes its process."""
    from conductor.store import RunInfo, write_run_info
    runs = root / PROJECT / TASK / "runs"
    for i, status in enumerate(("running", "completed", "completed")):
        run_id = f"20260220-15304{i}0000-1-0001"
        (runs / run_id).mkdir(exist_ok=True)
        write_run_info(str(runs / run_id / "run-info.yaml"),
                       RunInfo(run_id=run_id, project_id=PROJECT, task_id=TASK, status=status,
                               pid=1, pgid=1, exit_code=0,
                               start_time=(1771601140 + i) * 10**9))
    names = imported(subprocess_env, [*args, "--root", str(root), "--project", PROJECT],
                     str(tmp_path))
    assert offending(names, LIST_STATUS_FORBIDDEN) == []


def test_the_run_info_reader_is_loaded_only_when_a_run_info_is_read(root, subprocess_env):
    """The check can fail: posting from inside a run dir, with no JRUN_* and no flags, reads
    the run-info.yaml found there for the scope, and that needs the reader."""
    from conductor.store import RunInfo, write_run_info
    run_dir = root / PROJECT / TASK / "runs" / RUN
    write_run_info(str(run_dir / "run-info.yaml"),
                   RunInfo(run_id=RUN, project_id=PROJECT, task_id=TASK, status="completed"))
    names = imported(subprocess_env, ["bus", "post", "--body", "x"], str(run_dir))
    assert "conductor.store.runinfo" in names


def test_bus_post_goes_through_the_light_orchestrator_module(root, agent_env):
    """`bus post` appends through conductor.orchestrator.post, never the verbs module (its
    dataclasses, subprocess and the stop machinery)."""
    cwd = str(root / PROJECT / TASK / "runs" / RUN)
    names = imported(agent_env, ["bus", "post", "--type", "FACT", "--body", "x"], cwd)
    assert "conductor.orchestrator.post" in names
    assert offending(names, ("conductor.orchestrator.verbs", "subprocess")) == []


# `run-agent job` reads a plainly written config without PyYAML (config/yaml_simple.py) and its
# records are dataclasses; it needs nothing else heavy, and of the backends only its agent's
JOB_FORBIDDEN = ("yaml", "conductor.config.yaml_reader", "typing", "logging", "tempfile",
                 "shutil", "json", "urllib", "shlex", "http", "ssl", "psutil", "textual", "rich", "conductor.console", "conductor.config.hcl",
                 "conductor.agents.display", "conductor.agents.configlike",
                 "conductor.agents.claude", "conductor.agents.codex", "conductor.agents.gemini",
                 "conductor.agents.perplexity", "conductor.agents.xai",
                 "conductor.agents.responses", "conductor.agents.rest", "conductor.orchestrator",
                 "conductor.runner.ralph", "conductor.runner.supervisor")


def test_job_imports_only_its_own_backend_and_nothing_heavy(tmp_path, subprocess_env):
    agent = tmp_path / "agent.sh"
    agent.write_text("cat >/dev/null\necho ok\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"agents:\n  triv:\n    type: command\n    command: [/bin/sh, {agent}]\n")
    names = imported(subprocess_env, ["job", "--root", str(tmp_path / "runs"), "--project",
                                      PROJECT, "--task", TASK, "--config", str(config),
                                      "--agent", "triv", "--prompt", "x"], str(tmp_path))
    assert offending(names, JOB_FORBIDDEN) == []
    assert "conductor.agents.command" in names  # the check can fail: the lists were read
    assert (tmp_path / "runs" / PROJECT / TASK / "TASK-MESSAGE-BUS.md").read_text().count(
        "type: RUN_STOP") == 1


def test_no_locale_catalog_is_searched_and_argparse_speaks_english(root, agent_env, tmp_path):
    """argparse's words bypass gettext (cli/parser.py): a `bus post` searches no catalog, and
    a locale whose catalog would translate argparse changes nothing we print."""
    code = ("import gettext, sys\n"
            "def refuse(*a, **k):\n"
            "    raise SystemExit('gettext.find called')\n"
            "gettext.find = refuse\n"
            "from conductor.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", code, "bus", "post", "--type", "FACT", "--body", "x"],
                         env=agent_env, cwd=root, capture_output=True, text=True)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.startswith("msg_id: MSG-")
    bad = subprocess.run([sys.executable, "-m", "conductor", "bus", "post", "--nosuch"],
                         env=dict(agent_env, LANGUAGE="de", LANG="de_DE.UTF-8"), cwd=root,
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: unknown flag: --nosuch")
