"""Search order of the config file, and that searching never writes anything."""

from __future__ import annotations

import os

import pytest

from conductor.config import find_config
from conductor.errors import ConfigError


def tree(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.fixture
def places(tmp_path):
    cwd = tmp_path / "cwd"
    home = tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    return cwd, home


def touch(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("agents: {}\n")
    return str(path)


def test_nothing_found_and_nothing_created(places):
    cwd, home = places
    assert find_config(cwd=str(cwd), home=str(home)) is None
    assert tree(home) == [] and tree(cwd) == []
    assert not (home / ".run-agent").exists()


def test_order_of_default_places(places):
    cwd, home = places
    hcl = touch(home / ".run-agent" / "conductor-loop.hcl")
    assert find_config(cwd=str(cwd), home=str(home)) == hcl
    user = touch(home / ".config" / "conductor" / "config.yaml")
    assert find_config(cwd=str(cwd), home=str(home)) == user
    yml = touch(cwd / "config.yml")
    assert find_config(cwd=str(cwd), home=str(home)) == yml
    yaml_ = touch(cwd / "config.yaml")
    assert find_config(cwd=str(cwd), home=str(home)) == yaml_
    assert tree(home) == [".config/conductor/config.yaml", ".run-agent/conductor-loop.hcl"]


def test_explicit_wins_and_is_returned_as_given(places, monkeypatch):
    cwd, home = places
    touch(cwd / "config.yaml")
    other = touch(cwd / "other.yaml")
    assert find_config(other, cwd=str(cwd), home=str(home)) == other
    monkeypatch.chdir(cwd)
    assert find_config("other.yaml", home=str(home)) == "other.yaml"


def test_explicit_relative_to_given_cwd(places):
    cwd, home = places
    touch(cwd / "sub" / "c.yaml")
    assert find_config("sub/c.yaml", cwd=str(cwd), home=str(home)) == str(cwd / "sub" / "c.yaml")


def test_explicit_missing_is_an_error(places):
    cwd, home = places
    touch(cwd / "config.yaml")
    with pytest.raises(ConfigError) as info:
        find_config("missing.yaml", cwd=str(cwd), home=str(home))
    assert str(info.value) == "missing.yaml: config file not found"
    assert tree(home) == []


def test_explicit_directory_is_an_error(places):
    cwd, home = places
    (cwd / "conf").mkdir()
    with pytest.raises(ConfigError) as info:
        find_config("conf", cwd=str(cwd), home=str(home))
    assert str(info.value) == "conf: config path is a directory, not a file"


def test_directory_named_like_a_config_is_skipped(places):
    cwd, home = places
    (cwd / "config.yaml").mkdir()
    yml = touch(cwd / "config.yml")
    assert find_config(cwd=str(cwd), home=str(home)) == yml


def test_defaults_use_process_cwd_and_home(tmp_path, monkeypatch):
    home = tmp_path / "h"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    assert find_config() is None
    path = touch(home / ".config" / "conductor" / "config.yaml")
    assert find_config() == path
    assert not (home / ".run-agent").exists()
