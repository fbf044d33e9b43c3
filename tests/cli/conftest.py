"""Fixtures shared by the read-verb tests."""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def utc_isolated(monkeypatch, tmp_path):
    """Local time = UTC so tables are predictable; no config or env root leaks in."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONDUCTOR_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "runs")
