"""Fixtures for the demo tests."""

from __future__ import annotations

import pytest

from .demo_helpers import DemoRoot


@pytest.fixture
def demo_root(tmp_path, subprocess_env):
    demo = DemoRoot(tmp_path, subprocess_env)
    yield demo
    demo.stop_all()
