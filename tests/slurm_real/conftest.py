"""One real one-node Slurm for the whole session (cluster.py), stopped by pid at the end.

Skipped, with the reason printed, only where Slurm is not installed (or we are not root);
under CI=true a missing Slurm fails instead: .ci/run installs it."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

from .cluster import Cluster, missing


@pytest.fixture(scope="session")
def cluster():
    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the real Slurm tests: {why}")
        sys.stderr.write(f"\nslurm_real: skipped: {why}\n")
        pytest.skip(why)
    # its own directory, not pytest's: pytest keeps only the newest three base temporary
    # directories, and a concurrent session would delete the cluster's state under it
    directory = tempfile.mkdtemp(prefix="conductor-slurm-")
    found = Cluster(directory).start()
    sys.stderr.write(f"\nslurm_real: one-node cluster up in {found.up_seconds:.1f} s\n")
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def slurm_env(cluster, monkeypatch, subprocess_env):
    """This process and its children talk to the test cluster; a fresh executor."""
    from conductor.executor import registry
    from conductor.executor.slurm import SlurmExecutor
    dead = [p.args[0] for p in cluster.procs if p.poll() is not None]
    if dead:  # a test would wait for Slurm's answer for ever: fail at once instead
        pytest.fail(f"the test cluster's daemons died: {', '.join(dead)}; see {cluster.dir}")
    monkeypatch.setenv("SLURM_CONF", cluster.conf)
    fresh = SlurmExecutor()
    fresh.heartbeat_interval = 1.0
    monkeypatch.setitem(registry._LOADED, "slurm", fresh)
    env = dict(subprocess_env, SLURM_CONF=cluster.conf, PATH=cluster.env["PATH"],
               CONDUCTOR_SLURM_HEARTBEAT="1")
    return env
