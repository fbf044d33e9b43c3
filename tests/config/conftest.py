"""Fixtures for config tests: a private cwd and home, and a clean environment."""

from __future__ import annotations

import os
import textwrap

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh home directory; ``~`` expands to it."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


@pytest.fixture
def workdir(tmp_path, monkeypatch, home):
    """A fresh working directory, made current, so errors name ``config.yaml``."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    for key in list(os.environ):
        if key.startswith("CONDUCTOR_"):
            monkeypatch.delenv(key)
    return path


@pytest.fixture
def write(workdir):
    """Write a dedented file (minus one leading newline) into the working directory; return its name."""
    def _write(text: str, name: str = "config.yaml", mode: int | None = None, raw: bool = False) -> str:
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not raw:
            text = textwrap.dedent(text)
            text = text[1:] if text.startswith("\n") else text
        path.write_text(text, encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
        return name
    return _write
