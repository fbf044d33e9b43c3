import os

from conductor.store import resolve_runs_root


def test_explicit_root_wins_over_env_and_config(tmp_path):
    env = {"CONDUCTOR_ROOT": str(tmp_path / "env"), "HOME": str(tmp_path / "home")}
    got = resolve_runs_root(str(tmp_path / "flag"), config_runs_dir=str(tmp_path / "cfg"),
                            environ=env)
    assert got == str(tmp_path / "flag")


def test_env_then_config_then_home_default(tmp_path):
    home = str(tmp_path / "home")
    env = {"CONDUCTOR_ROOT": str(tmp_path / "env"), "HOME": home}
    assert resolve_runs_root(None, config_runs_dir="/cfg/runs", environ=env) == str(tmp_path / "env")
    env = {"CONDUCTOR_ROOT": "", "HOME": home}
    assert resolve_runs_root("", config_runs_dir="/cfg/runs", environ=env) == "/cfg/runs"
    assert resolve_runs_root(None, environ={"HOME": home}) == os.path.join(home, ".run-agent", "runs")


def test_relative_and_tilde_roots_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_runs_root("runs", environ={}) == str(tmp_path / "runs")
    assert resolve_runs_root("~/r", environ={}, home="/home/u") == "/home/u/r"
    assert resolve_runs_root(None, environ={"CONDUCTOR_ROOT": "rel"}) == str(tmp_path / "rel")
    assert resolve_runs_root(None, environ={}, home="/home/u") == "/home/u/.run-agent/runs"
