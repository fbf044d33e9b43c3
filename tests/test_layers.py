"""The layers of docs/architecture.md: nothing below the console imports Textual, and the
executor package imports nothing from the store."""

import pkgutil
import subprocess
import sys

DATA_LAYER = ("store", "bus", "formats", "executor", "runner", "orchestrator", "agents",
              "config", "watch", "supervise", "cli")


def _modules(package: str) -> list[str]:
    pkg = __import__(f"conductor.{package}", fromlist=["__path__"])
    found = [f"conductor.{package}"]
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"conductor.{package}."):
        if not info.name.endswith("__main__"):
            found.append(info.name)
    return found


def _loaded_after_importing(modules: list[str]) -> set[str]:
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print('\\n'.join(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_nothing_below_the_console_imports_textual():
    modules = [m for p in DATA_LAYER for m in _modules(p)]
    assert len(modules) > 60
    loaded = _loaded_after_importing(modules)
    assert sorted(m for m in loaded if m == "textual" or m.startswith(("textual.", "conductor.console"))) == []


def test_the_executor_package_imports_nothing_from_the_store():
    loaded = _loaded_after_importing(_modules("executor"))
    assert sorted(m for m in loaded if m.startswith(("conductor.store", "conductor.runner"))) == []
