"""ids (spec 1.4), time and duration formats, yaml.v3 quoting (spec 2.2)."""

import datetime
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conductor import ids, timefmt
from conductor.errors import IdError
from conductor.timefmt import format_duration, format_rfc3339nano, parse_duration, parse_timestamp
from conductor.yamlv3 import render_scalar, sorted_keys


def test_run_and_msg_id_formats():
    when = parse_timestamp("2026-11-21T13:17:48.880082836Z")
    run = ids.new_run_id(when, pid=9540)
    assert re.fullmatch(r"20261121-1317480000-9540-\d{4}", run)
    msg = ids.new_msg_id(when, pid=1234567)
    assert re.fullmatch(r"MSG-20261121-131748-880082836-PID34567-\d{4}", msg)
    assert re.fullmatch(r"task-\d{8}-\d{6}-[a-z0-9]{6}", ids.new_task_id())
    assert ids.new_task_id("my-feature", when) == "task-20261121-131748-my-feature"


def test_runs_sort_by_start_time_then_numbers_never_by_text():
    a = ("20260101-1200000000-99-9", 5)
    b = ("20260101-1200000000-99-10", 5)
    c = ("20260101-1200000000-100000-1", 4)
    order = sorted([b, a, c], key=lambda r: ids.run_sort_key(r[1], r[0]))
    assert [r[0] for r in order] == [c[0], a[0], b[0]]


@pytest.mark.parametrize("value,message", [
    ("", "project ID is empty"),
    ("a/b", 'invalid project ID "a/b": must not contain path separators (projects cannot be nested)'),
    ("..", 'invalid project ID "..": must not be a relative path reference'),
    ("a\x00b", 'invalid project ID "a\\x00b": must not contain null bytes'),
    ("My-Project", 'invalid project ID "My-Project": must contain only lowercase letters, digits, and hyphens (e.g. my-project)'),
    ("-x", 'invalid project ID "-x": must contain only lowercase letters, digits, and hyphens (e.g. my-project)'),
    ("pr\u043eject", 'invalid project ID "pr\u043eject": must contain only lowercase letters, digits, and hyphens (e.g. my-project)'),
])
def test_project_id_errors(value, message):
    with pytest.raises(IdError) as err:
        ids.validate_project_id(value)
    assert str(err.value) == message


def test_task_id_rule_and_long_ids():
    assert ids.validate_task_id("task-20260220-153045-my-feature")
    for bad in ("task-1", "task-20260220-153045-ab", "task-20260220-153045-x-", "task-2026022-153045-abc"):
        with pytest.raises(IdError, match="must match task-<YYYYMMDD>-<HHMMSS>-<slug>"):
            ids.validate_task_id(bad)
    with pytest.raises(IdError) as err:
        ids.validate_component("run", "a" * 10_000)
    assert len(str(err.value)) < 200


def test_timestamps_keep_nanoseconds_and_trim_zeros():
    for text in ("2026-02-20T15:30:45.123456789Z", "2026-02-20T15:30:45.12Z", "2026-02-20T15:40:00Z"):
        assert format_rfc3339nano(parse_timestamp(text)) == text
    assert format_rfc3339nano(parse_timestamp("2026-02-20T16:30:45+01:00")) == "2026-02-20T15:30:45Z"
    assert parse_timestamp("0001-01-01T00:00:00Z") is None and format_rfc3339nano(None) == "0001-01-01T00:00:00Z"


@given(st.integers(min_value=-(10**18), max_value=4 * 10**18))
def test_timestamp_round_trip(ns):
    assert parse_timestamp(format_rfc3339nano(ns)) == ns


def test_go_durations():
    assert parse_duration("1h30m") == 5400 and parse_duration("500ms") == 0.5 and parse_duration("0") == 0
    with pytest.raises(ValueError, match='missing unit in duration "30"'):
        parse_duration("30")
    assert [format_duration(s) for s in (5400, 0.2, 300, 1.5, 0)] == ["1h30m0s", "200ms", "5m0s", "1.5s", "0s"]


@pytest.mark.parametrize("value,text", [
    ("a: b", "'a: b'"), ("- x", "'- x'"), ("#x", "'#x'"), ("x #y", "'x #y'"), (" leading", "' leading'"),
    ("trailing ", "'trailing '"), ("{a}", "'{a}'"), ("@x", "'@x'"), ("---", "'---'"), ("-", "'-'"),
    ("it's", "it's"), ("'q", "'''q'"), ("null", '"null"'), ("~", '"~"'), ("true", '"true"'), ("yes", '"yes"'),
    ("on", '"on"'), ("1.5", '"1.5"'), ("0x10", '"0x10"'), ("007", '"007"'), ("2026-02-20", '"2026-02-20"'),
    ("", '""'), ("tab\there", '"tab\\there"'), ("two words", "two words"), ("1:20", '"1:20"'),
    ("a\nb", "|-\n    a\n    b"), ("a\n", "|\n    a"), ("\U0001F600", '"\\U0001F600"'), ("é", "é"),
])
def test_yaml_v3_scalar_styles(value, text):
    assert render_scalar(value, 4) == text


def test_meta_keys_sort_like_yaml_v3():
    # a non-digit counts as the number 0 against a digit run, so a_b comes before a9
    assert sorted_keys(["b", "a10", "a9", "a_b", "ab", "A"]) == ["A", "a_b", "a9", "a10", "ab", "b"]


# --- timefmt's integer calendar against datetime ------------------------------------------------

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-62135596800 * 10**9 + 1, max_value=253402300799 * 10**9 + 999_999_999))
def test_formatting_and_parsing_agree_with_datetime(ns):
    seconds, frac = divmod(ns, 10**9)
    dt = EPOCH + datetime.timedelta(seconds=seconds)
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    expected = text + ("." + f"{frac:09d}".rstrip("0") if frac else "") + "Z"
    assert timefmt.format_rfc3339nano(ns) == expected
    assert timefmt.parse_timestamp(expected) == ns
    assert timefmt.format_display(ns) == text.replace("T", " ")
    assert timefmt.format_compact(ns) == (text[:10].replace("-", ""), text[11:].replace(":", ""))


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10000), st.integers(0, 13), st.integers(0, 32), st.integers(0, 24),
        st.integers(0, 60), st.integers(0, 60))
def test_date_checks_say_what_datetime_says(year, month, day, hour, minute, second):
    try:
        datetime.datetime(year, month, day, hour, minute, second)
        expected = None
    except ValueError as exc:
        expected = str(exc)
    try:
        timefmt.check_civil(year, month, day, hour, minute, second)
        got = None
    except ValueError as exc:
        got = str(exc)
    assert got == expected
