"""The REST service over real HTTP: ``deployer serve`` in a subprocess on a free loopback port."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from deployer.runs.model import Owner, RunRecord
from deployer.runs.service import load_or_create_token, openapi_document
from deployer.runs.stores import open_store

from runs_helpers import all_command_lines, make_store_url, sha256, wait_for_file, write_secret_tree

pytestmark = pytest.mark.timeout(90)

SPEC = str(Path(__file__).parent / "runs_nodes" / "nodes.py") + ":Root"


class Server:
    def __init__(self, base: str, token: str, token_file: Path, store_url: str, proc: subprocess.Popen) -> None:
        self.base, self.token, self.token_file, self.store_url, self.proc = base, token, token_file, store_url, proc

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": "Bearer %s" % self.token}

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, headers=kw.pop("headers", self.auth), timeout=30, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return requests.post(self.base + path, headers=kw.pop("headers", self.auth), timeout=30, **kw)

    def wait_final(self, run_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get("/runs/" + run_id).json()
            if run["status"] in ("SUCCESS", "FAILED", "INTERRUPTED") or time.monotonic() > deadline:
                return run
            time.sleep(0.1)


def start_server(spec: str, tmp: Path, extra_env: dict | None = None, store_url: str | None = None) -> Server:
    """``deployer serve SPEC --port 0`` (we started it; the caller stops it by its pid)."""
    tmp.mkdir(parents=True, exist_ok=True)
    token_file = tmp / "token"
    store_url = store_url or "sqlite://%s" % (tmp / "runs.db")
    env = dict(os.environ, DEPLOYER_STATE_DIR=str(tmp / "state"), **(extra_env or {}))
    env.pop("DEPLOYER_RUNS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "deployer.cli", "serve", spec, "--port", "0",
                             "--token-file", str(token_file), "--store", store_url],
                            stdout=subprocess.PIPE, stderr=open(tmp / "serve.err", "w"), text=True, env=env)
    line = proc.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        proc.kill()
        proc.wait(10)
        raise AssertionError("deployer serve did not start: %r %s" % (line, (tmp / "serve.err").read_text()))
    return Server("http://127.0.0.1:%s" % m.group(1), token_file.read_text().strip(), token_file, store_url, proc)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(SPEC, tmp_path_factory.mktemp("service"))
    yield s
    stop_server(s)


def test_token_file_is_private(server, tmp_path):
    assert oct(server.token_file.stat().st_mode & 0o777) == "0o600" and len(server.token) >= 32
    f = tmp_path / "tok"
    assert load_or_create_token(f) == load_or_create_token(f)
    os.chmod(f, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_token(f)


def test_authentication(server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + server.token}):
        for path in ("/runs", "/nodes", "/runs/x"):
            r = server.get(path, headers=headers)
            assert r.status_code == 401 and "token" in r.json()["error"]
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = server.post("/runs", headers={}, json={"action": "ok"})
    assert r.status_code == 401
    assert server.get("/openapi.json", headers={}).json()["openapi"] == "3.0.3"


def test_nodes(server):
    tree = server.get("/nodes").json()
    assert tree["name"] == "Root" and tree["path"] == "Root"
    assert [a["name"] for a in tree["actions"]] == ["ok", "fail", "slow", "wait_for", "crash"]
    assert tree["actions"][0]["parameters"] == ["[text]"]
    [web] = tree["children"]
    assert web["path"] == "Root.web" and web["actions"][0] == {"name": "deploy", "doc": "Deploy a version.",
                                                               "parameters": ["[version]"]}


def test_post_run_and_read_it_back(server):
    r = server.post("/runs", json={"node": "Root.web", "action": "deploy", "parameters": ["3.1"]})
    assert r.status_code == 201, r.text
    run_id = r.json()["id"]
    assert r.headers["Location"] == "/runs/" + run_id
    run = server.wait_final(run_id)
    assert run["status"] == "SUCCESS", run
    assert (run["node_path"], run["action"], run["args"]) == ("Root.web", "deploy", ["3.1"])
    assert run["commands"][0]["output_tail"].strip() == "deploying 3.1"
    listed = server.get("/runs", params={"node": "Root.web"}).json()
    assert run_id in [x["id"] for x in listed["runs"]] and "history" not in listed["runs"][0]
    failed = server.post("/runs", json={"node": "", "action": "fail"}).json()["id"]
    assert server.wait_final(failed)["status"] == "FAILED"
    assert [x["id"] for x in server.get("/runs", params={"status": "FAILED"}).json()["runs"]] == [failed]
    page = server.get("/runs", params={"limit": 1}).json()
    assert len(page["runs"]) == 1 and page["next_offset"] == 1
    assert server.get("/runs", params={"limit": 1, "offset": 1}).json()["runs"][0]["id"] != page["runs"][0]["id"]
    sandboxed = server.post("/runs", json={"action": "ok", "sandbox": True}).json()["id"]
    assert server.wait_final(sandboxed)["sandbox"] is True


def test_live_event_stream(server, tmp_path):
    release = tmp_path / "release-stream"
    run_id = server.post("/runs", json={"action": "wait_for", "parameters": [str(release)]}).json()["id"]
    with requests.get(server.base + "/runs/%s/events" % run_id, headers=server.auth, stream=True, timeout=60) as r:
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-ndjson"
        lines = r.iter_lines()
        events = []
        # The action is blocked until we release it: whatever arrives now was streamed live.
        for line in lines:
            events.append(json.loads(line))
            if events[-1]["type"] == "command" and events[-1]["command"] == "echo waiting":
                break
        assert events[0]["type"] == "run" and all(e["type"] != "end" for e in events)
        release.touch()
        events.extend(json.loads(line) for line in lines)
    assert events[-1] == dict(events[-1], type="end", status="SUCCESS")
    statuses = [e["status"] for e in events if e["type"] == "history" and e["kind"] == "run"]
    assert statuses[-1] == "SUCCESS" and "STARTED" in statuses
    commands = {e["command_id"]: e for e in events if e["type"] == "command"}
    assert len(commands) == 2 and all(c["exit_code"] == 0 for c in commands.values())
    # A finished run's stream is its whole record, then the end.
    again = requests.get(server.base + "/runs/%s/events" % run_id, headers=server.auth, timeout=30).text
    assert again.strip().splitlines()[-1].startswith('{"end"')


@pytest.mark.parametrize("body,code,words", [
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"node": "Root"}', 400, "'action'"),
    (b'{"action": "ok", "parameters": "x"}', 400, "list of strings"),
    (b'{"action": "ok", "sandbox": "yes"}', 400, "'sandbox'"),
    (b'{"action": "ok", "bogus": 1}', 400, "bogus"),
    (b'{"node": "Root.nope", "action": "ok"}', 422, "unknown node 'Root.nope'"),
    (b'{"node": "web.deeper", "action": "ok"}', 422, "unknown node 'Root.web.deeper'"),
    (b'{"node": "Root.web", "action": "launch"}', 422, "no action 'launch'"),
    (b'{"action": "_private"}', 422, "no action '_private'"),
    (b'{"action": "ok", "parameters": ["a", "b", "c"]}', 422, "too many"),
])
def test_bad_requests(server, body, code, words):
    r = server.post("/runs", data=body)
    assert r.status_code == code and words in r.json()["error"], r.text


def test_not_found_and_bad_queries(server):
    r = server.get("/runs/no-such-id")
    assert r.status_code == 404 and "no-such-id" in r.json()["error"]
    assert server.get("/runs/no-such-id/events").status_code == 404
    assert server.get("/elsewhere").status_code == 404
    assert server.get("/runs", params={"limit": "many"}).status_code == 400
    assert server.get("/runs", params={"limit": ""}).status_code == 400                 # found by schemathesis
    assert server.get("/runs", params={"status": "DONE"}).status_code == 400
    assert server.get("/runs", params={"colour": "red"}).status_code == 400
    assert server.get("/runs", params={"offset": str(10 ** 20)}).status_code == 400     # found by schemathesis
    r = requests.delete(server.base + "/runs", headers=server.auth, timeout=10)
    assert r.status_code == 405 and r.headers["Content-Type"] == "application/json"
    assert r.headers["Allow"] == "GET, POST"


def test_listens_on_loopback_only(server):
    out = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
    port = server.base.rsplit(":", 1)[1]
    lines = [l for l in out.splitlines() if ":%s " % port in l]
    assert lines and all("127.0.0.1:%s" % port in l for l in lines)


def test_store_that_cannot_be_opened(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    proc = subprocess.run([sys.executable, "-m", "deployer.cli", "serve", SPEC, "--port", "0", "--token-file",
                           str(tmp_path / "t"), "--store", "sqlite://%s/x.db" % f],
                          capture_output=True, text=True, timeout=30, env=dict(os.environ))
    assert proc.returncode == 1 and "Cannot use the run store" in proc.stderr


def test_openapi_document_is_valid():
    from openapi_spec_validator import validate
    validate(openapi_document())


def test_posted_parameters_never_on_a_command_line(tmp_path):
    import uuid
    secret = "pw-%s" % uuid.uuid4().hex
    spec = write_secret_tree(tmp_path / "tree")
    server = start_server(spec, tmp_path / "srv")
    try:
        r = server.post("/runs", json={"action": "login", "parameters": ["alice", secret]})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        try:
            wait_for_file(tmp_path / "tree" / "hash")
            lines = all_command_lines()
            assert [pid for pid, line in lines.items() if secret.encode() in line] == []
            assert any(b"deployer.runs.child\0" + run_id.encode() in line for line in lines.values())
            running = server.get("/runs/" + run_id).json()
            assert running["status"] == "STARTED" and running["args"] == ["alice", "********"]
        finally:
            (tmp_path / "tree" / "release").touch()
        run = server.wait_final(run_id)
        assert run["status"] == "SUCCESS", run
        assert (tmp_path / "tree" / "hash").read_text() == sha256(secret)
        assert secret not in json.dumps(run)
        assert secret not in (tmp_path / "srv" / "serve.err").read_text()
    finally:
        stop_server(server)


def test_a_blocked_store_holds_up_only_the_requests_waiting_for_it(tmp_path, request):
    """A store call that waits (here for a row lock another connection holds) runs off the
    reactor, on its own connection: other requests, store reads and event streams go on."""
    import psycopg
    import threading

    url = make_store_url("postgresql", tmp_path, request)
    with open_store(url) as store:
        dead = subprocess.Popen(["true"])
        dead.wait()
        # 'stuck': its owner is gone, so reading it ends it, which needs its row lock.
        store.create_run(RunRecord(id="stuck", node_path="Root", action="ok", start=100.0, status="STARTED",
                                   owner=Owner(pid=dead.pid, hostname=os.uname().nodename)))
        store.create_run(RunRecord(id="other", node_path="Root", action="ok", start=101.0, status="SUCCESS",
                                   end=102.0))
    server = start_server(SPEC, tmp_path / "srv", store_url=url)
    base, _, schema = url.partition("?schema=")
    locker = psycopg.connect(base)
    try:
        locker.execute('SELECT id FROM "%s".runs WHERE id = %%s FOR UPDATE' % schema, ("stuck",))
        answers: list = []
        blocked = threading.Thread(target=lambda: answers.append(server.get("/runs/stuck")))
        blocked.start()
        with psycopg.connect(base, autocommit=True) as watcher:
            deadline = time.monotonic() + 30
            while not watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                      "AND query ILIKE '%%for update%%' AND pid <> %s",
                                      (locker.info.backend_pid,)).fetchone()[0]:
                assert time.monotonic() < deadline, "the request never reached the lock"
                time.sleep(0.05)
        # The service waits on the lock for /runs/stuck; everything else is answered meanwhile.
        assert server.get("/nodes").status_code == 200
        other = server.get("/runs/other")
        assert other.status_code == 200 and other.json()["status"] == "SUCCESS"
        events = server.get("/runs/other/events").text.strip().splitlines()
        assert json.loads(events[-1])["type"] == "end"
        assert server.get("/runs/nope").status_code == 404
        assert blocked.is_alive() and answers == []
    finally:
        locker.rollback()
        locker.close()
        blocked.join(60)
        stop_server(server)
    [stuck] = answers
    assert stuck.status_code == 200 and stuck.json()["status"] == "INTERRUPTED"
