"""conductor: a Python implementation of Conductor Loop.

The data layer (ids, store, bus, config, agents, runner, orchestrator, watch)
never imports Textual; only :mod:`conductor.console` does.
"""

__version__ = "0.1.0"
