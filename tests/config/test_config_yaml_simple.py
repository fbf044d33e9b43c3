"""The plain-config reader (no PyYAML) gives libyaml's tree whenever it answers at all.

``run-agent job`` reads its config with :mod:`conductor.config.yaml_simple` and falls back to
the full YAML reader for anything outside the plain subset; a difference in a value, a quote
flag or a line number would change what the decoder says, so every form it accepts is compared
with the YAML reader's tree, and a random walk over near-miss texts checks that it never
accepts what YAML reads differently or refuses.
"""

from __future__ import annotations

import glob
import os
import random
import re

import pytest

from conductor.config.source import Source
from conductor.config.yaml_reader import parse_yaml
from conductor.config.yaml_simple import simple_tree
from conductor.errors import ConfigError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ACCEPTED = [
    "agents:\n  triv:\n    type: command\n    command: [/bin/sh, /tmp/agent.sh]\n",
    "# a comment\n\nagents:\n  claude:\n    type: claude\n    token_file: ~/.config/k.key\n"
    "    model: claude-opus-4\n  # between\n  sim:\n    command: [python, -m, conductor.demo.sim_agent]\n"
    "defaults:\n  agent: claude\n  timeout: 3600\n  max_concurrent_runs: 0\n",
    "api:\n  host: 0.0.0.0\n  port: 14355\n  base_url: http://localhost:8080/v1\n",
    "agents:\n  x:\n    type: command\n    command:\n      - /bin/echo\n      - --flag\n      - a b\n"
    "    env:\n      A: \"quoted value\"\n      B: 'single value'\n      C: ~\n",
    "agents:\n  x:\n    command:\n    - a\n    - b\n    type: command\n",
    "defaults:\n  agent: null\n  flag: yes\n  ratio: -1.5\n  n: 0x1F\n  empty_list: []\n",
    "storage:\n  runs_dir: ./runs\n  list: [\"a\", 'b', c]\nk: v\n",
    "a: $HOME/x\nb: +1\nc: a:b\nd: x=y,z\ne: f(x) @ g\n",
    "agents:        # name -> settings, caf\u00e9\n  x:\n    type: command   # a comment\n"
    "    command: [a, \"b\"]  # list\n    env:\n      K: \"x,ctrl+k\"   # keys\n",
    "a: b # comment\n",
]

REJECTED = [
    "",
    "# only a comment\n",
    "---\na: b\n",
    "a: b\n---\nc: d\n",
    "a: &x b\nc: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a: {b: c}\n",
    "a:\tb\n",
    "a: b\r\n",
    "a: b  \n",
    "a: \"b # c\n",
    "a: 'b # c'\n",  # YAML reads it fine; the plain reader does not look inside quotes
    "a: \"it's\" # c\n",
    "a: b # \u2028 c\n",
    "a: b\u0085\n",
    "a:\nb: c\n",
    "a:\n",
    "a:  b\n",
    "a:b\n",
    "\"a\": b\n",
    "a: \"esc\\n\"\n",
    "a: [b, [c]]\n",
    "a: [b: c]\n",
    "a: [b, ]\n",
    "- a\n- b\n",
    "  a: b\n",
    "a:\n    b: c\n  d: e\n",
    "a:\n  - b\n  c: d\n",
    "a:\n  - b: c\n",
    "a: b:\n",
    "a: café\n",
    "\ufeffa: b\n",
    "a: ?b\n",
    "a: @b\n",
    "a: `b`\n",
    "a: %b\n",
]


def yaml_tree(text: str):
    return parse_yaml(text.encode("utf-8"), Source(None, "config.yaml"))


@pytest.mark.parametrize("text", ACCEPTED)
def test_plain_configs_are_read_without_yaml_and_as_yaml_reads_them(text):
    tree = simple_tree(text.encode())
    assert tree is not None
    assert tree == yaml_tree(text)


@pytest.mark.parametrize("text", REJECTED)
def test_anything_else_is_left_to_the_yaml_reader(text):
    assert simple_tree(text.encode("utf-8")) is None


def _documented_configs() -> list[str]:
    """Every YAML config the repository shows: examples/ and the ```yaml blocks of the docs."""
    texts = [open(p, encoding="utf-8").read() for p in glob.glob(os.path.join(REPO, "examples", "*.yaml"))]
    for doc in glob.glob(os.path.join(REPO, "docs", "*.md")) + [os.path.join(REPO, "README.md")]:
        with open(doc, encoding="utf-8") as f:
            texts += re.findall(r"```ya?ml\n(.*?)```", f.read(), re.S)
    return texts


def test_every_documented_config_reads_the_same_either_way():
    texts = _documented_configs()
    assert texts
    accepted = 0
    for text in texts:
        tree = simple_tree(text.encode("utf-8"))
        if tree is None:
            continue
        accepted += 1
        assert tree == yaml_tree(text), text
    assert accepted >= 1  # examples/config.yaml is plain


ALPHABET = [" ", "  ", "-", "- ", ":", ": ", "#", " #", "'", '"', "[", "]", ",", "\n", "\n  ",
            "\n    ", "a", "b1", "~", "null", "yes", "0", "-1", ".", "/", "x:y", "\\", "{", "&",
            "*", "\u00e9", "\u2028", "\t", "\r"]


def test_near_miss_texts_are_never_read_differently():
    rng = random.Random(11)
    seen = 0
    for _ in range(3000):
        text = rng.choice(ACCEPTED)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(text) + 1)
            cut = rng.choice((0, 0, 1, 2))
            text = text[:at] + rng.choice(ALPHABET) + text[at + cut:]
        tree = simple_tree(text.encode("utf-8"))
        if tree is None:
            continue
        seen += 1
        try:
            expected = yaml_tree(text)
        except ConfigError as exc:
            pytest.fail(f"accepted what YAML refuses ({exc}): {text!r}")
        assert tree == expected, text
    assert seen > 300
