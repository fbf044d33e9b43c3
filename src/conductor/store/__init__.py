"""The runs root on disk: where things are, run-info records, task markers, liveness, scans.

Everything here is plain files and processes; nothing imports Textual. The disk is the truth:
any function may find files changed by another process (upstream's Go tool, an agent's shell)
since the last call, and reads are written to cope with that.
"""

from .layout import (
    CANCELLED, DIR_MODE, DONE, FILE_MODE, OUTPUT, PROJECT_BUS, PROMPT, RUN_INFO, RUNS, STDERR,
    STDOUT, STOP_REQUESTED, TASK_BUS, TASK_CONFIG, TASK_MD, TASK_STATE, Layout, UnsafeIdError,
)
from .liveness import (
    START_TOLERANCE_NS, STALE_DONE, STALE_NOT_ALIVE, heal_run, process_alive, reconcile,
)
from .rootdir import ROOT_ENV, resolve_runs_root
from .runinfo import (
    RunInfo, RunInfoMissing, dump_run_info, parse_run_info, placeholder_run_info,
    read_run_info, read_run_info_stat, replace_run_info, update_run_info, write_run_info,
)
from .scan import ProjectSnapshot, RunSnapshot, TaskSnapshot, scan_root, scan_run, scan_task
from .taskfiles import (
    StopRequest, clear_done, clear_stop_requested, done_exists, done_marker_present,
    normalize_depends_on, read_depends_on, read_task_prompt, read_task_state, stop_requested,
    write_depends_on, write_done, write_stop_requested, write_task_md_if_missing,
)

__all__ = [
    "CANCELLED", "DIR_MODE", "DONE", "FILE_MODE", "OUTPUT", "PROJECT_BUS", "PROMPT", "RUN_INFO",
    "RUNS", "STDERR", "STDOUT", "STOP_REQUESTED", "TASK_BUS", "TASK_CONFIG", "TASK_MD",
    "TASK_STATE", "Layout", "UnsafeIdError",
    "START_TOLERANCE_NS", "STALE_DONE", "STALE_NOT_ALIVE", "heal_run", "process_alive",
    "reconcile",
    "ROOT_ENV", "resolve_runs_root",
    "RunInfo", "RunInfoMissing", "dump_run_info", "parse_run_info", "placeholder_run_info",
    "read_run_info", "read_run_info_stat", "replace_run_info", "update_run_info",
    "write_run_info",
    "ProjectSnapshot", "RunSnapshot", "TaskSnapshot", "scan_root", "scan_run", "scan_task",
    "StopRequest", "clear_done", "clear_stop_requested", "done_exists", "done_marker_present",
    "normalize_depends_on", "read_depends_on", "read_task_prompt", "read_task_state",
    "stop_requested", "write_depends_on", "write_done", "write_stop_requested",
    "write_task_md_if_missing",
]
