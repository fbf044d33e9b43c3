"""Our own YAML depth check (formats.yamlguard.deep_line), run before any YAML library sees the text."""

from __future__ import annotations

import pytest

from conductor.formats.yamlguard import deep_line

LIMIT = 64


@pytest.mark.parametrize("text,line", [
    ("a: " + "[" * 65 + "]" * 65, 1),
    ("a: " + "{x: " * 65 + "1" + "}" * 65, 1),
    ("a:\n" + "- " * 65 + "x\n", 2),
    ("a:\n" + "? " * 65 + "x\n", 2),
    ("".join(" " * i + f"k{i}:\n" for i in range(70)), 65),
    ("a: [\n" + "[\n" * 70, 64),  # flow nesting over many lines (the mapping is a level)
    ("a: [']]]]]]', " + "[" * 70, 1),  # brackets in a quoted scalar close nothing
    ("a: [x, # ]]]]]]\n" + "[" * 70, 2),  # nor in a comment
])
def test_too_deep_is_found_on_its_line(text, line):
    assert deep_line(text, LIMIT) == line


@pytest.mark.parametrize("text", [
    "a: 1\nb:\n  c: [1, [2, 3], {d: e}]\n  f:\n  - x\n  - y: {z: [1]}\n",
    "p: '" + "[" * 200 + "'\n",  # a quoted scalar
    'p: "' + "{" * 200 + '"\n',
    "p: see [" + "[" * 200 + "\n",  # a plain scalar: brackets are text
    "p: |\n" + "".join(" " * (i + 2) + "- x: [[[\n" for i in range(200)),  # a block scalar
    "# " + "[" * 200 + "\n" + "a: 1\n",  # a comment
    "a:\n" + " " * 300 + "b: 1\n",  # deep indentation, two levels
])
def test_ordinary_documents_pass(text):
    assert deep_line(text, LIMIT) is None
