"""Command-line front end: ``run-agent`` and ``conductor`` are this one entry point."""
