"""The reference's example (examples/package_deploy.py): in the background, over HTTP, on SSH hosts."""
from __future__ import annotations

import importlib.util
import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from deployer.runs.background import start_background
from deployer.runs.model import FAILED, FINAL_STATES, KIND_STEP, SUCCESS
from deployer.runs.recorder import RunRecorder
from deployer.runs.stores import open_store

from test_service import start_server, stop_server

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "package_deploy.py"
SPEC = "%s:PackageDeployment" % EXAMPLE
STEPS = ["STARTED", "COPY", "PREVIEW", "UNPACK", "EXTRACT", "INSTALLED", "REMOVED", "DEPLOYED", "LISTED", "SUCCESS"]


def _load_example():
    spec = importlib.util.spec_from_file_location("package_deploy_under_test", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _load_example()


def make_package(directory: Path, package_id: str, install: str = "echo installing", name: str = "myapp") -> Path:
    """A real .tar.gz holding <name>/manifest.json and a file."""
    path = directory / ("%s.tar.gz" % package_id)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in (("%s/manifest.json" % name, json.dumps({"name": name, "install": install}).encode()),
                             ("%s/index.html" % name, b"<h1>hello</h1>\n")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def env(tmp_path, monkeypatch):
    packages = tmp_path / "packages"
    packages.mkdir()
    deploy_root = tmp_path / "deploy"
    url = "sqlite://%s" % (tmp_path / "runs.db")
    monkeypatch.setenv("DEPLOYER_PACKAGES_DIR", str(packages))
    monkeypatch.setenv("DEPLOYER_DEPLOY_ROOT", str(deploy_root))
    monkeypatch.setenv("DEPLOYER_RUNS_URL", url)
    return packages, deploy_root, url


def wait_final(url: str, run_id: str, timeout: float = 60):
    store = open_store(url)
    deadline = time.monotonic() + timeout
    while True:
        run = store.get_run(run_id)
        if run.status in FINAL_STATES or time.monotonic() > deadline:
            store.close()
            return run
        time.sleep(0.1)


def test_package_model_and_manifest(tmp_path):
    p = example.Package("7", "~/pk/web-app.tar.gz", "https://api.cloud.example.org/")
    assert (p.id, p.name, p.file_name, p.destination) == ("7", "web-app", "web-app.tar.gz",
                                                           "https://web-app.cloud.example.org")
    assert p.path == os.path.expanduser("~/pk/web-app.tar.gz") and p.get_package_manifest_filename() == "web-app.json"
    assert example.Package("7", "x.tar.gz", "https://example.org").destination == ""
    assert example.Package("7", "x.tar.gz").destination == ""
    path = make_package(tmp_path, "a-1", install="make install")
    assert example.extract_manifest(str(path)) == {"name": "myapp", "install": "make install"}
    assert example.extract_manifest(path.read_bytes())["name"] == "myapp"
    empty = tmp_path / "empty.tar.gz"
    with tarfile.open(empty, "w:gz"):
        pass
    assert example.extract_manifest(str(empty)) is None


def _step_history(run, host=None):
    return [h for h in run.history if h.kind == KIND_STEP and (host is None or h.host == host)]


def test_background_deploy_records_every_status(env):
    packages, deploy_root, url = env
    make_package(packages, "myapp-1.0")
    run_id = start_background(SPEC, "", "deploy", ["myapp-1.0"])
    run = wait_final(url, run_id)
    assert run.status == SUCCESS, run.error
    steps = _step_history(run)
    assert [h.status for h in steps] == STEPS
    assert len({h.host for h in steps}) == 1
    times = [h.time for h in steps]
    assert times == sorted(times) and run.start <= times[0] <= times[-1] <= run.end
    assert any(h.kind == "file" and h.status == "PUT" and h.detail.endswith("myapp-1.0.tar.gz") for h in run.history)
    assert os.readlink(deploy_root / "myapp" / "current") == "myapp-1.0"
    assert (deploy_root / "myapp" / "myapp-1.0" / "myapp" / "index.html").exists()
    status = example.deployment_status(run)
    assert status["deploy_status"] == SUCCESS and status["package"] == "myapp-1.0"
    assert status["history"][-1].endswith("~ SUCCESS") and any("] COPY" in line for line in status["history"])


def test_failing_step_ends_the_run_failed_at_that_step(env):
    packages, deploy_root, url = env
    make_package(packages, "broken-1", install="echo 'install: disk full' >&2; exit 5")
    run = wait_final(url, start_background(SPEC, "", "deploy", ["broken-1"]))
    assert run.status == FAILED
    assert [h.status for h in _step_history(run)] == ["STARTED", "COPY", "PREVIEW", "UNPACK", "EXTRACT", "FAILED"]
    assert "INSTALLED" in run.error and "exit status 5" in run.error and "install: disk full" in run.error
    failing = [c for c in run.commands if c.exit_code == 5]
    assert failing and "install: disk full" in failing[0].output_tail
    assert not (deploy_root / "myapp" / "current").exists()     # it stopped there


def test_missing_package_in_the_background(env):
    _, _, url = env
    run = wait_final(url, start_background(SPEC, "", "deploy", ["nope-1"]))
    assert run.status == FAILED and "no package 'nope-1'" in run.error


def test_over_http(env, tmp_path):
    packages, deploy_root, _ = env
    make_package(packages, "myapp-2.0")
    server = start_server(SPEC, tmp_path / "srv", extra_env={"DEPLOYER_PACKAGES_DIR": str(packages),
                                                             "DEPLOYER_DEPLOY_ROOT": str(deploy_root)})
    try:
        r = server.post("/runs", json={"action": "deploy", "parameters": ["missing-9"]})
        assert r.status_code == 404 and "no package 'missing-9'" in r.json()["error"]
        r = server.post("/runs", json={"action": "deploy", "parameters": ["../../etc/passwd"]})
        assert r.status_code == 404
        r = server.post("/runs", json={"action": "deploy", "parameters": []})
        assert r.status_code == 422 and "package_id" in r.json()["error"]
        assert server.post("/runs", json={"action": "undeploy", "parameters": ["x"]}).status_code == 422
        assert server.get("/runs").json()["runs"] == []             # nothing was started
        r = server.post("/runs", json={"node": "PackageDeployment", "action": "deploy", "parameters": ["myapp-2.0"]})
        assert r.status_code == 201
        run = server.wait_final(r.json()["id"])
        assert run["status"] == SUCCESS
        assert [h["status"] for h in run["history"] if h["kind"] == "step"] == STEPS
        assert all(h["time"] > 0 and h["host"] for h in run["history"] if h["kind"] == "step")
    finally:
        stop_server(server)


@pytest.mark.ssh
def test_on_ssh_hosts_per_host_statuses(ssh_bed, tmp_path, monkeypatch):
    from deployer.node import Env

    packages = tmp_path / "packages"
    packages.mkdir()
    make_package(packages, "myapp-3")
    monkeypatch.setenv("DEPLOYER_PACKAGES_DIR", str(packages))
    monkeypatch.setenv("DEPLOYER_DEPLOY_ROOT", "~/deploy-test-%d" % os.getpid())
    hosts = [ssh_bed.host_class(i) for i in range(2)]

    class SSHDeployment(example.PackageDeployment):
        class Hosts:
            host = set(hosts)

    store = open_store("sqlite://%s" % (tmp_path / "runs.db"))
    recorder = RunRecorder(store, owns_store=False)
    Env(SSHDeployment(), logger=recorder).deploy("myapp-3")
    run = store.get_run(store.list_runs()[0].id)
    assert run.status == SUCCESS and sorted(run.hosts) == sorted(h.slug for h in hosts)
    for h in hosts:
        assert [e.status for e in _step_history(run, h.slug)] == STEPS
    assert {c.host for c in run.commands} == {h.slug for h in hosts}
    for h in hosts:
        out = h().run("readlink ~/deploy-test-%d/myapp/current" % os.getpid(), interactive=False, silent=True)
        assert out.strip() == "myapp-3"
