"""Shared fixtures: the agpt binary and a scratch directory per test."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def agpt_bin():
    path = os.environ.get("AGPT_BIN", str(ROOT / "build" / "agpt"))
    assert os.path.exists(path), f"{path} is missing: run `make` first"
    return path


@pytest.fixture
def run_agpt(agpt_bin):
    """Runs `agpt ARGS...`; returns the CompletedProcess (text mode)."""

    def run(*args, check=True, env=None, timeout=600, **kw):
        full_env = dict(os.environ)
        full_env.setdefault("OMP_NUM_THREADS", "2")
        if env:
            full_env.update(env)
        p = subprocess.run([agpt_bin, *map(str, args)], capture_output=True, text=True, env=full_env,
                           timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"agpt {' '.join(map(str, args))} exited {p.returncode}\n"
                                 f"stdout:\n{p.stdout[-4000:]}\nstderr:\n{p.stderr[-4000:]}")
        return p

    return run
