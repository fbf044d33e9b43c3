"""The loop's and the stop verbs' defaults, in one place.

Read by the CLI's flags and their help, the Ralph loop (``runner.ralph``), its failure policy
(``runner.policy``), the stop verbs (``runner.stop``), the orchestrator, the config's comments
and the console. Constants only, importing nothing: cheap on any verb's path.
"""

# the Ralph loop (run-agent task)
MAX_ATTEMPTS = 100            # attempts in all (--max-restarts, defaults.max_restarts)
RESTART_DELAY = 1.0           # seconds between attempts (--restart-delay); 0 means none
CHILD_WAIT = 300.0            # the longest wait for a root's children (--child-wait-timeout)
CHILD_POLL = 1.0              # how often the children are looked at (--child-poll-interval)
DEP_POLL = 2.0                # how often dependencies are looked at (--dependency-poll-interval)

# `task resume` and `resume --agent` (upstream: 3 attempts, 1 s apart)
RESUME_MAX_ATTEMPTS = 3

# the loop's failure policy (runner.policy)
FAILURE_LIMIT = 5             # identical failures in a row before the task is stuck
BACKOFF_MAX = 300.0           # the longest pause between identical failures
LIMIT_WAIT_MAX = 6 * 3600.0   # the longest wait for a usage limit to reset
LIMIT_FALLBACK_WAIT = 300.0   # a limit without a reset time: wait this long, then try
RESUME_MODES = ("answers", "always", "never")  # when an attempt continues the agent's session
RESUME_MODE = RESUME_MODES[0]

# stopping
STOP_GRACE = 30.0             # `stop`, `task stop`: the wait after SIGTERM (upstream's 30 s)
DELETE_GRACE = 5.0            # `task delete --force`: the wait after SIGTERM
CONSOLE_GRACE = 5.0           # the console's stop, stop-run and restart (then SIGKILL)
LOOP_EXIT_WAIT = 10.0         # after a stop: how much longer than the grace a loop may take to exit

# starting a detached supervisor (the console's s/r/n, the orchestrator's start_task)
START_WINDOW = 1.5            # how long a start watches: lock held = started, exited = failed


def short_duration(seconds: float) -> str:
    """``6h``, ``5m``, ``30s``, ``1.5s``: a default as the help text shows it."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
