"""PyYAML's own words, as installed today, for tests that check our messages around them.

Our messages put the library's reason after our prefix (``invalid YAML: line 8: <reason>``).
Tests assert the prefix and the line exactly and take the reason from the installed library,
so a PyYAML release that rewords a problem cannot fail the suite.
"""

from __future__ import annotations

import yaml


def yaml_problem(text: str) -> str:
    """The reason PyYAML's C loader (the one we use) gives for refusing ``text``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        return getattr(exc, "problem", None) or str(exc)
    raise AssertionError(f"{text!r} parses: no problem to report")
