"""`worktree:` in the config: defaults, paths relative to the config, one-line errors."""

from __future__ import annotations

import os

import pytest

from conductor.config import load_config
from conductor.errors import ConfigError


def load(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(str(path), env={}), str(path)


def test_defaults_and_a_full_section(tmp_path):
    config, _ = load(tmp_path, "agents: {}\n")
    wt = config.worktree
    assert (wt.enabled, wt.dir, wt.base, wt.setup, wt.setup_timeout, wt.copy) == \
        (False, "", "", [], "", [])
    config, _ = load(tmp_path, "worktree:\n  enabled: yes\n  dir: trees\n  base: main\n"
                               "  setup: npm ci --silent\n  setup_timeout: 2m\n"
                               "  copy: [.env, config/local.json]\n")
    wt = config.worktree
    assert wt.enabled is True
    assert wt.dir == os.path.join(str(tmp_path), "trees")  # relative to the config's dir
    assert (wt.base, wt.setup, wt.setup_timeout) == ("main", ["npm", "ci", "--silent"], "2m")
    assert wt.copy == [".env", "config/local.json"]


@pytest.mark.parametrize("text, line, field, message", [
    ("worktree: [a]\n", 1, "worktree",
     "must be a mapping (enabled, dir, base, setup, setup_timeout, copy)"),
    ("worktree:\n  enabled: maybe\n", 2, "worktree.enabled", 'must be true or false, got "maybe"'),
    ("worktree:\n  base: --upload-pack=x\n", 2, "worktree.base",
     'must be a git ref such as main, got "--upload-pack=x"'),
    ("worktree:\n  setup_timeout: soon\n", 2, "worktree.setup_timeout",
     'must be a positive duration such as "5m", got "soon"'),
    ("worktree:\n  copy:\n    - .env\n    - ../secrets\n", 4, "worktree.copy[1]",
     '"../secrets" leaves the repository: give a path relative to the working dir, inside it'),
    ("worktree:\n  copy: [/etc/passwd]\n", 2, "worktree.copy[0]",
     '"/etc/passwd" leaves the repository: give a path relative to the working dir, inside it'),
    ("worktree:\n  copy: ['']\n", 2, "worktree.copy[0]", "is empty"),
    ("worktree:\n  setup: ['', x]\n", 2, "worktree.setup", "has an empty program name"),
])
def test_one_line_naming_the_field(tmp_path, text, line, field, message):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert (err.value.line, err.value.field) == (line, field)
    assert "\n" not in str(err.value) and message in str(err.value)
