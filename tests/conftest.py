"""Shared fixtures: the loopback sshd and PostgreSQL test beds, and an isolated state dir.

The beds start once per session, lazily (only if a test asks for them), and
fail the test loudly when they cannot start: they never skip.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployer.testing.postgres import PostgresTestBed
from deployer.testing.sshd import SSHTestBed


@pytest.fixture(scope="session")
def ssh_bed() -> Iterator[SSHTestBed]:
    """An :class:`SSHTestBed` with 4 hosts (127.0.0.1 … 127.0.0.4)."""
    with SSHTestBed(n_hosts=4) as bed:
        yield bed


@pytest.fixture(scope="session")
def pg_bed() -> Iterator[PostgresTestBed]:
    """A throwaway PostgreSQL cluster on 127.0.0.1."""
    with PostgresTestBed() as bed:
        yield bed


@pytest.fixture(scope="session")
def pg_url(pg_bed: PostgresTestBed) -> str:
    """``postgresql://user:password@127.0.0.1:port/db`` of the session's PostgreSQL bed."""
    return pg_bed.url


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Point deployer's state and runtime dirs at fresh temp dirs: no test touches the real home."""
    base = tmp_path_factory.mktemp("deployer-home")
    state = base / "state"
    runtime = base / "runtime"
    state.mkdir()
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("DEPLOYER_STATE_DIR", str(state))
    monkeypatch.setenv("DEPLOYER_RUNTIME_DIR", str(runtime))
    return state
