"""The real agent CLIs (claude, codex, gemini) at the versions conductor is verified against.

Found, in order: the prefix in ``CONDUCTOR_TEST_CLIS``; the fixed prefix ``.ci/run`` installs
into (:data:`CI_PREFIX`); a per-user cache that this fixture fills with ``npm install`` when npm
is available (so README's test command works on a developer machine too). Without npm the tests
are skipped with the reason; under CI (``CI`` set) they fail instead: CI must run them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass

import pytest

# npm package and exact version of each CLI (keep in step with .ci/run)
PINNED = {
    "claude": ("@anthropic-ai/claude-code", "2.1.332"),
    "codex": ("@openai/codex", "0.171.0"),
    "gemini": ("@google/gemini-cli", "0.61.0"),
}
CI_PREFIX = "/opt/conductor-test-clis"
INSTALL_TIMEOUT = 600


@dataclass
class Clis:
    prefix: str
    bin: str                 # node_modules/.bin: put first on PATH
    versions: dict[str, str]

    def path(self, name: str) -> str:
        return os.path.join(self.bin, name)


def _installed(prefix: str) -> dict[str, str] | None:
    """The installed version of each pinned CLI under ``prefix``, or None if one is missing."""
    found = {}
    for name, (package, _) in PINNED.items():
        binary = os.path.join(prefix, "node_modules", ".bin", name)
        manifest = os.path.join(prefix, "node_modules", package, "package.json")
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK) and os.path.isfile(manifest)):
            return None
        try:
            with open(manifest) as f:
                found[name] = str(json.load(f).get("version", ""))
        except (OSError, ValueError):
            return None
    return found


def _pinned(versions: dict[str, str] | None) -> bool:
    return versions is not None and all(versions[n] == v for n, (_, v) in PINNED.items())


def _cache_prefix() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    tag = "-".join(f"{n}{v}" for n, (_, v) in sorted(PINNED.items()))
    return os.path.join(base, "conductor-test-clis", tag)


def _npm_install(prefix: str) -> str:
    """Install the pinned CLIs into ``prefix``; "" on success, else why not."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    os.makedirs(prefix, exist_ok=True)
    specs = [f"{package}@{version}" for package, version in PINNED.values()]
    try:
        res = subprocess.run([npm, "install", "--prefix", prefix, "--no-audit", "--no-fund",
                              "--save-exact", *specs], capture_output=True, text=True,
                             timeout=INSTALL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install failed: {exc}"
    if res.returncode != 0:
        tail = " | ".join(res.stderr.strip().splitlines()[-3:])
        return f"npm install exited {res.returncode}: {tail}"
    # claude's bin is a placeholder until its postinstall copies the native binary over it;
    # an npm configured with ignore-scripts leaves it, so run that script ourselves
    claude = os.path.join(prefix, "node_modules", ".bin", "claude")
    probe = subprocess.run([claude, "--version"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        script = os.path.join("node_modules", "@anthropic-ai", "claude-code", "install.cjs")
        subprocess.run(["node", script], cwd=prefix, capture_output=True, timeout=300)
    return ""


def find_clis() -> tuple[Clis | None, str]:
    """The CLIs, or None and the reason they are unavailable."""
    explicit = os.environ.get("CONDUCTOR_TEST_CLIS", "").strip()
    if explicit:
        versions = _installed(explicit)
        if versions is None:
            return None, (f"CONDUCTOR_TEST_CLIS={explicit} does not hold claude, codex and "
                          f"gemini under node_modules")
        return Clis(explicit, os.path.join(explicit, "node_modules", ".bin"), versions), ""
    for prefix in (CI_PREFIX, _cache_prefix()):
        versions = _installed(prefix)
        if _pinned(versions):
            return Clis(prefix, os.path.join(prefix, "node_modules", ".bin"), versions), ""
    prefix = _cache_prefix()
    print(f"\nreal agent CLIs: installing {', '.join(f'{p}@{v}' for p, v in PINNED.values())} "
          f"into {prefix}", flush=True)
    why = _npm_install(prefix)
    if why:
        return None, f"the real agent CLIs are not installed and could not be: {why}"
    versions = _installed(prefix)
    if not _pinned(versions):
        return None, f"npm install into {prefix} did not leave the pinned versions: {versions}"
    return Clis(prefix, os.path.join(prefix, "node_modules", ".bin"), versions), ""


@pytest.fixture(scope="session")
def real_clis() -> Clis:
    clis, why = find_clis()
    if clis is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the real-agent tests: {why}", pytrace=False)
        print(f"\nskipping the real-agent tests: {why}", flush=True)
        pytest.skip(why)
    if not _pinned(clis.versions):
        print(f"\nreal agent CLIs in {clis.prefix}: {clis.versions} (pinned: "
              f"{ {n: v for n, (_, v) in PINNED.items()} })", flush=True)
    return clis
