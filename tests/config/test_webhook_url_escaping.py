"""`webhook.url is invalid: …` never carries a control character: the URL is quoted as Go's
url.Error quotes it (%q), and a URL holding a control character is refused as Go refuses it."""

from __future__ import annotations

import pytest

from conductor.config import load_config
from conductor.errors import ConfigError


@pytest.mark.parametrize("yaml_url, message", [
    (r'"http://evil\e[2J.example/hook"',
     r'config.yaml:2: webhook.url is invalid: parse "http://evil\x1b[2J.example/hook": '
     "net/url: invalid control character in URL"),
    (r'"https://exa\nmple.com/x"',
     r'config.yaml:2: webhook.url is invalid: parse "https://exa\nmple.com/x": '
     "net/url: invalid control character in URL"),
    (r'"\u0007bell \"quoted\""',
     r'config.yaml:2: webhook.url is invalid: parse "\abell \"quoted\"": '
     "net/url: invalid control character in URL"),
    (r'"no scheme \u009b2J"',
     r'config.yaml:2: webhook.url is invalid: parse "no scheme \u009b2J": invalid URI for request'),
    ("not a url", 'config.yaml:2: webhook.url is invalid: parse "not a url": invalid URI for request'),
])
def test_webhook_url_message_escapes_control_characters(write, yaml_url, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(f"webhook:\n  url: {yaml_url}\n", raw=True), env={})
    assert str(info.value) == message
    assert str(info.value).isprintable()


def test_webhook_timeout_message_escapes_control_characters(write):
    with pytest.raises(ConfigError) as info:
        load_config(write('webhook:\n  url: https://h.example/x\n  timeout: "1\\e[2Js"\n', raw=True),
                    env={})
    assert str(info.value).isprintable()
    assert str(info.value).startswith(r"config.yaml:3: webhook.timeout is invalid: ")
    assert r"\x1b[2J" in str(info.value)


def test_cli_prints_one_escaped_line(stubs):
    (stubs.base / "hook.yaml").write_text('webhook:\n  url: "http://x\\e]0;pwned\\a/"\n')
    res = stubs.run("job", "--config", "hook.yaml", "--root", stubs.root, "--project", "proj",
                    "--task", "task-20260220-153045-hook", "--agent", "codex", "--prompt", "x")
    assert (res.returncode, res.stdout) == (1, "")
    assert res.stderr == ('Error: hook.yaml:2: webhook.url is invalid: parse "http://x\\x1b]0;pwned\\a/": '
                          "net/url: invalid control character in URL\n")
