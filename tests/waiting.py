"""The one polling wait of the test suite (no fixed sleeps: a test waits for what it needs).

Importable as ``waiting`` from every test folder: tests/conftest.py puts tests/ on sys.path
(pytest's rootdir conftest, "prepend" import mode), as for ``yaml_words``.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05,
             what: str = "condition") -> T:
    """Call ``predicate`` until it returns something truthy, and return that; raise
    AssertionError naming ``what`` if it has not by ``timeout`` seconds (it is always
    called once more at the deadline, so a slow last poll is not lost)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)
