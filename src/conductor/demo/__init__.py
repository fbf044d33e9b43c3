"""The demo: a simulated agent (a real process, no tokens) and a project of tasks that use it.

``python -m conductor.demo.sim_agent`` is the agent (scenarios happy, flaky, long, question,
child); :func:`create_demo` writes a config with a ``command`` agent ``sim`` and starts one task
per scenario as detached supervisors; ``conductor demo`` (:mod:`conductor.demo.cli`) does that
and opens the console. No Textual here: the console is imported only when it is opened.

The names below are loaded on first use, so starting the simulator (which imports this
package first) does not pay for the orchestrator's imports.
"""

from __future__ import annotations

__all__ = ["DEMO_PROJECT", "SCENARIOS", "create_demo", "demo_config_text", "task_prompt",
           "write_demo_config"]


def __getattr__(name: str):
    if name in __all__:
        from . import project
        return getattr(project, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
