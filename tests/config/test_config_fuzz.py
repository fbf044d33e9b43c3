"""Whatever a config file contains, loading it raises ConfigError or nothing else."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conductor.config import load_config, load_config_lenient, select_agent
from conductor.errors import ConfigError

KEYS = ["agents", "defaults", "api", "storage", "webhook", "keymap", "theme", "claude", "sim", "type",
        "token", "token_file", "command", "env", "timeout", "port", "sse", "runs_dir", "extra_roots",
        "diversification", "weights", "agents", "strategy", "url", "<<", "x"]
SCALARS = ["", "~", "null", "0", "-1", "300", "0x1f", "yes", "soon", "claude", "command", "'q'", '"a\\"b"',
           "[", "]", "{", "}", "&a", "*a", "!!str 5", "|", "~bob/x", "~/t", "ftp://x", "https://h/p", "- x"]
TOKENS = st.sampled_from(KEYS + SCALARS + [":", ": ", "\n", "\n  ", "\n    ", "- ", ", ", "#", "---", "\t", "{", "["])
YAMLISH = st.lists(TOKENS, max_size=60).map("".join)

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-70000, 70000), st.sampled_from(SCALARS + KEYS),
                   st.text(max_size=8))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5), max_leaves=25)
STRUCTURED = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6).map(
    lambda doc: yaml.safe_dump(doc, allow_unicode=True))

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _load_all(path: str) -> None:
    for loader in (load_config, load_config_lenient):
        try:
            config = loader(path, env={})
        except ConfigError as exc:
            assert exc.path == path and "\n" not in str(exc), str(exc)
            continue
        try:
            select_agent(config, None)
        except ConfigError:
            pass


@SETTINGS
@given(text=YAMLISH)
def test_yamlish_text_raises_only_config_error(workdir, text):
    (workdir / "config.yaml").write_text(text, encoding="utf-8")
    _load_all("config.yaml")


@SETTINGS
@given(text=STRUCTURED)
def test_structured_documents_raise_only_config_error(workdir, text):
    (workdir / "config.yaml").write_text(text, encoding="utf-8")
    _load_all("config.yaml")


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_config_error(workdir, data):
    (workdir / "config.yaml").write_bytes(data)
    (workdir / "conductor-loop.hcl").write_bytes(data)
    _load_all("config.yaml")
    _load_all("conductor-loop.hcl")


HCLISH = st.lists(st.sampled_from(KEYS + SCALARS + [" = ", " {", "}", "\n", "# c", "// c", '"', "\\", " "]),
                  max_size=60).map("".join)


@SETTINGS
@given(text=HCLISH)
def test_hclish_text_raises_only_config_error(workdir, text):
    (workdir / "conductor-loop.hcl").write_text(text, encoding="utf-8")
    _load_all("conductor-loop.hcl")
