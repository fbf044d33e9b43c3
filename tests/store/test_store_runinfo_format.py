"""run-info.yaml bytes and decoding rules (spec 2.1-2.4)."""


import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conductor.errors import RunInfoError
from conductor.store import RunInfo, dump_run_info, parse_run_info
from conductor.store import runinfo as runinfo_mod
from conductor.timefmt import parse_timestamp
from conductor.yamlv3 import emit_mapping, render_scalar

RUNNING = """\
version: 1
run_id: 20260220-1530450000-12345-1
parent_run_id: 20260220-1520000000-111-1
previous_run_id: 20260220-1525000000-222-3
project_id: my-project
task_id: task-20260220-153045-my-feature
agent: claude
process_ownership: managed
pid: 12346
pgid: 12346
start_time: 2026-02-20T15:30:45.123456789Z
end_time: 0001-01-01T00:00:00Z
exit_code: -1
status: running
cwd: /home/u/proj
prompt_path: /r/prompt.md
output_path: /r/output.md
stdout_path: /r/agent-stdout.txt
stderr_path: /r/agent-stderr.txt
commandline: claude -p --input-format text --output-format stream-json --verbose --tools default --permission-mode bypassPermissions < /r/prompt.md
agent_version: 2.1.3 (Claude Code)
"""

FAILED = RUNNING.replace(
    "end_time: 0001-01-01T00:00:00Z\nexit_code: -1\nstatus: running\n",
    "end_time: 2026-02-20T15:40:00Z\nexit_code: 1\nstatus: failed\n",
).replace(
    "agent_version: 2.1.3 (Claude Code)\n",
    "error_summary: agent reported failure\nagent_version: \"\"\n",
)

CREATE_RUN = """\
version: 0
run_id: 20260220-1530450000-4242-1
project_id: my-project
task_id: task-001
agent: ""
process_ownership: managed
pid: 4242
pgid: 4242
start_time: 2026-02-20T15:30:45.12Z
end_time: 0001-01-01T00:00:00Z
exit_code: -1
status: running
agent_version: ""
"""

PATH = "/root/my-project/task-20260220-153045-my-feature/runs/20260220-1530450000-12345-1/run-info.yaml"


@pytest.mark.parametrize("text", [RUNNING, FAILED, CREATE_RUN], ids=["running", "failed", "create-run"])
def test_spec_examples_round_trip_byte_for_byte(text):
    info = parse_run_info(text, PATH)
    assert dump_run_info(info) == text
    assert emit_mapping(runinfo_mod.run_info_items(info)) == text


def test_running_example_decodes_to_the_expected_record():
    info = parse_run_info(RUNNING, PATH)
    assert info == RunInfo(
        version=1, run_id="20260220-1530450000-12345-1",
        parent_run_id="20260220-1520000000-111-1", previous_run_id="20260220-1525000000-222-3",
        project_id="my-project", task_id="task-20260220-153045-my-feature", agent="claude",
        process_ownership="managed", pid=12346, pgid=12346,
        start_time=1771601445123456789, end_time=None, exit_code=-1, status="running",
        cwd="/home/u/proj", prompt_path="/r/prompt.md", output_path="/r/output.md",
        stdout_path="/r/agent-stdout.txt", stderr_path="/r/agent-stderr.txt",
        commandline="claude -p --input-format text --output-format stream-json --verbose "
                    "--tools default --permission-mode bypassPermissions < /r/prompt.md",
        agent_version="2.1.3 (Claude Code)")


def test_a_fresh_record_writes_the_runner_shape():
    info = RunInfo(run_id="r1", project_id="p", task_id="t", agent="codex", pid=7, pgid=7,
                   start_time=parse_timestamp("2026-02-20T15:30:45.5Z"))
    assert dump_run_info(info) == (
        "version: 1\nrun_id: r1\nproject_id: p\ntask_id: t\nagent: codex\npid: 7\npgid: 7\n"
        "start_time: 2026-02-20T15:30:45.5Z\nend_time: 0001-01-01T00:00:00Z\nexit_code: -1\n"
        "status: running\nagent_version: \"\"\n")


@pytest.mark.parametrize("value, line", [
    ("a: b", "error_summary: 'a: b'"),
    ("- x", "error_summary: '- x'"),
    ("x #y", "error_summary: 'x #y'"),
    ("it's", "error_summary: it's"),
    ("'q' x", "error_summary: '''q'' x'"),
    ("null", 'error_summary: "null"'),
    ("yes", 'error_summary: "yes"'),
    ("007", 'error_summary: "007"'),
    ("1.5", 'error_summary: "1.5"'),
    ("2026-02-20", 'error_summary: "2026-02-20"'),
    ("tab\there", 'error_summary: "tab\\there"'),
    ("two\nlines", "error_summary: |-\n    two\n    lines"),
    ("ends\n", "error_summary: |\n    ends"),
])
def test_yaml_special_strings_are_quoted_like_yaml_v3_and_read_back(value, line):
    info = RunInfo(run_id="r", project_id="p", task_id="t", error_summary=value)
    text = dump_run_info(info)
    assert f"\n{line}\n" in text
    assert parse_run_info(text, "/x/r/run-info.yaml").error_summary == value


# ---- tolerant reading -------------------------------------------------------------------------

def _with(text, old, new):
    assert old in text
    return text.replace(old, new)


def test_unknown_keys_comments_and_flow_style_are_accepted():
    text = RUNNING + "future_field: {a: 1}\n# a comment\n"
    assert parse_run_info(text, PATH) == parse_run_info(RUNNING, PATH)


@pytest.mark.parametrize("raw, expected", [
    ("null", None), ("~", None), ("", None),
    ('"2026-02-20T15:30:45.123456789Z"', 1771601445123456789),
    ("'2026-02-20T15:30:45Z'", 1771601445000000000),
    ("2026-02-20T16:30:45+01:00", 1771601445000000000),
    ("2026-02-20", 1771545600000000000),
    ("2026-02-20 15:30:45.123456+00:00", 1771601445123456000),
])
def test_timestamps_in_every_accepted_form(raw, expected):
    text = _with(RUNNING, "end_time: 0001-01-01T00:00:00Z", f"end_time: {raw}".rstrip())
    assert parse_run_info(text, PATH).end_time == expected


def test_nanoseconds_survive_and_missing_fields_take_go_zero_values():
    info = parse_run_info("run_id: r\nstart_time: 2026-02-20T15:30:45.000000001Z\n", PATH)
    assert info.start_time % 1_000_000_000 == 1
    assert (info.version, info.pid, info.exit_code, info.end_time) == (0, 0, 0, None)
    assert info.status == "unknown"


def test_strings_keep_their_text_whatever_yaml_would_resolve():
    text = "run_id: r\nagent: yes\nerror_summary: 007\nagent_version: 1.10\ncwd: null\n"
    info = parse_run_info(text, PATH)
    assert (info.agent, info.error_summary, info.agent_version, info.cwd) == ("yes", "007", "1.10", "")


def test_hydration_fills_ids_from_the_canonical_path():
    info = parse_run_info("version: 1\nrun_id: ''\nproject_id: '  '\nstatus: ''\n", PATH)
    assert info.run_id == "20260220-1530450000-12345-1"
    assert info.project_id == "my-project"
    assert info.task_id == "task-20260220-153045-my-feature"
    assert info.status == "unknown"


def test_hydration_trims_ids_and_infers_only_under_runs():
    info = parse_run_info("run_id: ' r1 '\ntask_id: \"\\tt1\"\n", "/a/p/t/other/r/run-info.yaml")
    assert (info.run_id, info.project_id, info.task_id) == ("r1", "", "t1")


# ---- errors ----------------------------------------------------------------------------------

def _error(text, path="/runs/p/t/runs/r/run-info.yaml"):
    with pytest.raises(RunInfoError) as err:
        parse_run_info(text, path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(path + ": ")
    return message[len(path) + 2:]


def test_pid_and_pgid_at_the_edges_of_a_pid_t():
    for value in (2**31 - 1, -(2**31 - 1), 0, -1):
        text = _with(_with(RUNNING, "pid: 12346", f"pid: {value}"), "pgid: 12346", f"pgid: {value}")
        info = parse_run_info(text, "/x/y/run-info.yaml")
        assert (info.pid, info.pgid) == (value, value)


def test_newer_version_is_refused_with_a_clear_message():
    assert _error(_with(RUNNING, "version: 1", "version: 2")) == \
        "version: unsupported version 2 (this tool reads version 1)"


@pytest.mark.parametrize("old, new, expected", [
    ("exit_code: -1", "exit_code: '1'", "exit_code: line 13: expected an integer, got the quoted string '1'"),
    ("pid: 12346", "pid: twelve", "pid: line 9: expected an integer, got 'twelve'"),
    ("pid: 12346", "pid: 99999999999999999999", "pid: line 9: expected an integer"),
    ("pgid: 12346", "pgid: [1, 2]", "pgid: line 10: expected an integer, got a sequence"),
    ("pgid: 12346", "pgid: 2147483648", "pgid: line 10: out of range: 2147483648"),
    ("pid: 12346", "pid: -2147483648", "pid: line 9: out of range: -2147483648"),
    ("pid: 12346", "pid: 0x7fffffffffffffff", "pid: line 9: out of range: 9223372036854775807"),
    ("cwd: /home/u/proj", 'cwd: "/tmp/\\0x"', "cwd: line 15: contains a NUL byte"),
    ("end_time: 0001-01-01T00:00:00Z", "end_time: ''", "end_time: line 12: expected a timestamp, got an empty string"),
    ("start_time: 2026-02-20T15:30:45.123456789Z", "start_time: 1771601445",
     "start_time: line 11: expected an RFC 3339 timestamp, got the number 1771601445"),
    ("start_time: 2026-02-20T15:30:45.123456789Z", "start_time: yesterday",
     "start_time: line 11: expected an RFC 3339 timestamp, got 'yesterday'"),
    ("status: running", "status: {a: b}", "status: line 14: expected a string, got a mapping"),
    ("agent: claude", "agent: claude\nrun_id: again", 'line 8: mapping key "run_id" already defined at line 2'),
])
def test_wrong_types_name_the_field_and_line(old, new, expected):
    assert _error(_with(RUNNING, old, new)).startswith(expected)


@pytest.mark.parametrize("text, expected", [
    ("", "empty file"),
    ("# only a comment\n", "empty file"),
    ("just some text\n", "line 1: expected a mapping of run-info fields"),
    ("- a\n- b\n", "line 1: expected a mapping of run-info fields"),
    (RUNNING[:RUNNING.index("commandline")] + 'commandline: "claude -p', "invalid YAML: line "),
    ("version: 1\nrun_id: [unclosed\n", "invalid YAML: line "),
    ("\x00\x01binary", "invalid YAML: "),
])
def test_empty_truncated_and_non_yaml_files_fail_with_one_line(text, expected):
    assert _error(text).startswith(expected)


# ---- properties ------------------------------------------------------------------------------

YAML_SPECIAL = st.sampled_from([
    "yes", "no", "on", "off", "y", "n", "true", "null", "~", "007", "0x10", "1e3", ".inf",
    "1:20", ": x", "- x", "-", "---", "...", "#x", "x #y", "a: b", "@x", "`x`", "%x", "!x",
    "&a", "*a", "[1]", "{a}", "|", ">", "'", '"', " lead", "trail ", "multi\nline",
    "ends\n", "\n", "a\n\nb\n\n", "  indented\nnext", "tab\there", "\x85nel", "uni\u2028sep",
    "héllo ✓", "日本語", "emoji 🚀", "2026-02-20", "2026-02-20T15:30:45Z", "=", "<<",
])
ANY_TEXT = st.one_of(YAML_SPECIAL, st.text(), st.text(alphabet=" -:#'\"\n\tabc01|>~"))
ID_TEXT = ANY_TEXT.filter(lambda s: s == runinfo_mod.go_trim_space(s) and s != "")
TIMES = st.one_of(st.none(), st.integers(-2_208_988_800 * 10**9, 7_258_118_400 * 10**9))
INT64 = st.integers(-2**63, 2**63 - 1)
PIDS = st.integers(-2**31 + 1, 2**31 - 1)  # a pid_t; beyond it the reader refuses the field
PATH_TEXT = ANY_TEXT.filter(lambda s: "\0" not in s)  # a path with NUL is a field error


@st.composite
def run_infos(draw):
    return RunInfo(
        version=draw(st.sampled_from([0, 1])), run_id=draw(ID_TEXT),
        parent_run_id=draw(ANY_TEXT), previous_run_id=draw(ANY_TEXT),
        project_id=draw(st.one_of(st.just(""), ID_TEXT)),
        task_id=draw(st.one_of(st.just(""), ID_TEXT)), agent=draw(ANY_TEXT),
        process_ownership=draw(ANY_TEXT), pid=draw(PIDS), pgid=draw(PIDS),
        start_time=draw(TIMES), end_time=draw(TIMES), exit_code=draw(INT64),
        status=draw(ANY_TEXT.filter(bool)), cwd=draw(PATH_TEXT), prompt_path=draw(PATH_TEXT),
        output_path=draw(PATH_TEXT), stdout_path=draw(PATH_TEXT), stderr_path=draw(PATH_TEXT),
        commandline=draw(ANY_TEXT), error_summary=draw(ANY_TEXT), agent_version=draw(ANY_TEXT),
        executor=draw(ANY_TEXT), host=draw(ANY_TEXT), host_boot_id=draw(ANY_TEXT),
        executor_job_id=draw(ANY_TEXT), executor_cluster=draw(ANY_TEXT), host_pid=draw(PIDS),
        host_pid_start=draw(TIMES), submit_time=draw(TIMES), heartbeat_time=draw(TIMES))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(run_infos())
def test_every_record_reads_back_equal(info):
    text = dump_run_info(info)
    assert text == emit_mapping(runinfo_mod.run_info_items(info))
    assert parse_run_info(text, "/x/y/run-info.yaml") == info


@settings(max_examples=300, deadline=None)
@given(run_infos())
def test_fast_reader_agrees_with_the_yaml_reader(info):
    text = dump_run_info(info)
    fast = runinfo_mod._fast_values(text)
    if fast is not None:
        assert fast == runinfo_mod._generic_values(text, "/x")


@pytest.mark.parametrize("text", [RUNNING, FAILED, CREATE_RUN])
def test_fast_reader_is_used_for_the_plain_files_we_write(text):
    assert runinfo_mod._fast_values(text) == runinfo_mod._generic_values(text, "/x")


@given(st.integers(-62135596800 * 10**9, 253402300799 * 10**9 + 999999999))
def test_fast_timestamps_match_the_general_parser(ns):
    from conductor.timefmt import format_rfc3339nano
    text = format_rfc3339nano(ns)
    assert runinfo_mod._fast_timestamp(text) == parse_timestamp(text)


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
                                  "2026-02-20T24:00:00Z", "2026-02-20T15:30:45+01:00"])
def test_unusual_timestamps_leave_the_fast_path(text):
    assert runinfo_mod._fast_timestamp(text) is runinfo_mod._NOT_FAST


@given(st.one_of(st.text(alphabet="aZ09/._()<>=+,@- :#'\"yesnoul"), YAML_SPECIAL,
                 st.from_regex(r"[0-9][0-9a-fxXoObBeE.+_-]{0,6}", fullmatch=True)))
def test_safe_plain_shortcut_matches_render_scalar(value):
    if runinfo_mod.is_safe_plain(value):
        assert render_scalar(value, 4) == value


def test_dataclass_field_order_is_the_file_order():
    names = list(RunInfo._compared)
    text = dump_run_info(RunInfo(**{n: ("x" if isinstance(getattr(RunInfo(), n), str) else getattr(RunInfo(), n) or 1) for n in names}))
    assert [line.split(":")[0] for line in text.splitlines()] == names


PLACED = """\
version: 1
run_id: 20260220-1530450000-12345-1
project_id: my-project
task_id: task-20260220-153045-my-feature
agent: claude
process_ownership: external
pid: 0
pgid: 0
start_time: 2026-02-20T15:30:45.123456789Z
end_time: 0001-01-01T00:00:00Z
exit_code: -1
status: running
agent_version: 2.1.3 (Claude Code)
executor: slurm
host: node7
host_boot_id: 0b6e2f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b
executor_job_id: "1234"
executor_cluster: hpc
host_pid: 5120
host_pid_start: 2026-02-20T15:30:46.2Z
submit_time: 2026-02-20T15:30:44.9Z
heartbeat_time: 2026-02-20T15:31:16.3Z
"""


def test_the_executor_keys_follow_upstreams_and_read_back_byte_for_byte():
    """Issue 11's keys: after every upstream key (which upstream reads, ignoring ours), each
    written only when set; a run of another executor says pid 0, pgid 0 and external."""
    info = parse_run_info(PLACED, "/r/my-project/t/runs/x/run-info.yaml")
    assert (info.executor, info.host, info.executor_job_id, info.host_pid) == (
        "slurm", "node7", "1234", 5120)
    assert info.heartbeat_time == parse_timestamp("2026-02-20T15:31:16.3Z")
    assert dump_run_info(info) == PLACED
    assert runinfo_mod._fast_values(PLACED) == runinfo_mod._generic_values(PLACED, "/x")
    local = info.replace(executor="local", host="build7", host_boot_id="",
                                executor_job_id="", executor_cluster="", host_pid=0,
                                host_pid_start=None, submit_time=None, heartbeat_time=None)
    assert dump_run_info(local).endswith('agent_version: 2.1.3 (Claude Code)\n'
                                         'executor: local\nhost: build7\n')
