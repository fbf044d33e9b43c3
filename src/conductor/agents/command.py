"""The ``command`` type: any program, argv from the config's ``command:``, plain-text output.

Its stdout becomes output.md as it is (unless it wrote output.md itself). When the program
wraps one of the known agents and prints that agent's JSON stream, the console still shows it
readably (:func:`conductor.agents.display.sniff_stream_type`).
"""

from __future__ import annotations

from .backend import Backend


class CommandBackend(Backend):
    type = "command"
    needs_command = True


BACKEND = CommandBackend()
