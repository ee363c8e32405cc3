"""A process that keeps an Env holds no store connection while nothing runs."""
import os

import psycopg
import pytest

from deployer.host import LocalHost
from deployer.node import Env, Node
from deployer.runs import recorder_from_environment
from deployer.runs.stores import open_store
from runs_helpers import make_store_url


class Echo(Node):
    class Hosts:
        host = LocalHost

    def hello(self):
        return self.host.run("echo hello", interactive=False)


def open_connections(backend, url, db_path):
    """Connections to the store that this process holds, seen from outside Python."""
    if backend == "sqlite":
        fd_dir = "/proc/self/fd"
        return sum(1 for fd in os.listdir(fd_dir) if os.path.realpath(os.path.join(fd_dir, fd)) == db_path)
    with psycopg.connect(url.split("?")[0]) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE client_addr IS NOT NULL "
                            "AND client_port IS NOT NULL AND pid <> pg_backend_pid() "
                            "AND backend_type = 'client backend' AND state IS NOT NULL").fetchone()[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_store_connection_is_held_between_runs(backend, tmp_path, request, monkeypatch):
    url = make_store_url(backend, tmp_path, request)
    monkeypatch.setenv("DEPLOYER_RUNS_URL", url)
    db_path = str(tmp_path / "runs.db")
    before = open_connections(backend, url, db_path)
    env = Env(Echo(), logger=recorder_from_environment())
    for _ in range(3):
        assert env.hello().strip() == "hello"
        assert open_connections(backend, url, db_path) == before
    runs = open_store(url).list_runs()
    assert [r.status for r in runs] == ["SUCCESS"] * 3
