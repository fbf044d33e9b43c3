"""The runs root on disk: where things are, run-info records, task markers, liveness, scans.

Everything here is plain files and processes; nothing imports Textual. The disk is the truth:
any function may find files changed by another process (upstream's Go tool, an agent's shell)
since the last call, and reads are written to cope with that.
"""

from conductor.lazymod import lazy_names

# Names are loaded on first use (PEP 562): `run-agent bus post` needs the layout, not the YAML
# run-info reader and its imports, and Python runs this file for any `conductor.store.*` import.
_WHERE = {
    "CANCELLED": "layout",
    "DIR_MODE": "layout",
    "DONE": "layout",
    "FILE_MODE": "layout",
    "OUTPUT": "layout",
    "PROJECT_BUS": "layout",
    "PROMPT": "layout",
    "RUN_INFO": "layout",
    "RUNS": "layout",
    "STDERR": "layout",
    "STDOUT": "layout",
    "STOP_REQUESTED": "layout",
    "TASK_BUS": "layout",
    "TASK_CONFIG": "layout",
    "TASK_MD": "layout",
    "TASK_STATE": "layout",
    "TASK_LOOP_LOCK": "layout",
    "Layout": "layout",
    "UnsafeIdError": "layout",
    "START_TOLERANCE_NS": "liveness",
    "STALE_DONE": "liveness",
    "STALE_NOT_ALIVE": "liveness",
    "heal_run": "liveness",
    "process_alive": "liveness",
    "run_alive": "liveness",
    "reconcile": "liveness",
    "ROOT_ENV": "rootdir",
    "resolve_runs_root": "rootdir",
    "RunInfo": "runinfo",
    "RunInfoMissing": "runinfo",
    "dump_run_info": "runinfo",
    "parse_run_info": "runinfo",
    "placeholder_run_info": "runinfo",
    "read_run_info": "runinfo",
    "read_run_info_stat": "runinfo",
    "replace_run_info": "runinfo",
    "update_run_info": "runinfo",
    "write_run_info": "runinfo",
    "ProjectSnapshot": "scan",
    "RunSnapshot": "scan",
    "TaskSnapshot": "scan",
    "scan_root": "scan",
    "scan_run": "scan",
    "scan_task": "scan",
    "Cancellation": "taskfiles",
    "StopRequest": "taskfiles",
    "clear_cancelled": "taskfiles",
    "clear_done": "taskfiles",
    "clear_stop_requested": "taskfiles",
    "done_exists": "taskfiles",
    "done_marker_present": "taskfiles",
    "normalize_depends_on": "taskfiles",
    "read_cancelled": "taskfiles",
    "read_depends_on": "taskfiles",
    "read_task_prompt": "taskfiles",
    "read_task_state": "taskfiles",
    "stop_requested": "taskfiles",
    "write_cancelled": "taskfiles",
    "write_depends_on": "taskfiles",
    "write_done": "taskfiles",
    "write_stop_requested": "taskfiles",
    "write_task_md_if_missing": "taskfiles",
}


__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())


__all__ = [
    "CANCELLED", "DIR_MODE", "DONE", "FILE_MODE", "OUTPUT", "PROJECT_BUS", "PROMPT", "RUN_INFO",
    "RUNS", "STDERR", "STDOUT", "STOP_REQUESTED", "TASK_BUS", "TASK_CONFIG", "TASK_MD",
    "TASK_STATE", "TASK_LOOP_LOCK", "Layout", "UnsafeIdError",
    "START_TOLERANCE_NS", "STALE_DONE", "STALE_NOT_ALIVE", "heal_run", "process_alive", "run_alive",
    "reconcile",
    "ROOT_ENV", "resolve_runs_root",
    "RunInfo", "RunInfoMissing", "dump_run_info", "parse_run_info", "placeholder_run_info",
    "read_run_info", "read_run_info_stat", "replace_run_info", "update_run_info",
    "write_run_info",
    "ProjectSnapshot", "RunSnapshot", "TaskSnapshot", "scan_root", "scan_run", "scan_task",
    "Cancellation", "StopRequest", "clear_cancelled", "read_cancelled", "write_cancelled",
    "clear_done", "clear_stop_requested", "done_exists", "done_marker_present",
    "normalize_depends_on", "read_depends_on", "read_task_prompt", "read_task_state",
    "stop_requested", "write_depends_on", "write_done", "write_stop_requested",
    "write_task_md_if_missing",
]
