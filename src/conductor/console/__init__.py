"""The Textual operator console (``conductor`` / ``conductor console``).

Import :func:`conductor.console.app.run_console` or :class:`conductor.console.app.ConductorApp`
directly; this package stays empty so importing it costs nothing.
"""
