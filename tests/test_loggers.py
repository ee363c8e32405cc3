"""TextLogger and DefaultLogger fed with real event sequences."""
from __future__ import annotations

import io
import logging
import os
import tempfile
import threading

import pytest

from deployer.loggers.base import MultiLogger
from deployer.loggers.default import DefaultLogger
from deployer.loggers.events import (ActionFinished, ActionStarted, CommandFinished, CommandOutput, CommandStarted,
                                     FileTransferred, StatusChanged)
from deployer.loggers.masking import MASK, mask_params
from deployer.loggers.masking import mask_secret_assignments
from deployer.loggers.text import TextLogger, format_call
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(30)

SECRET = "hunter2-very-secret"


def deployment_events():
    """What an Env and its hosts emit for: Root.web.deploy -> Root.web.Git.checkout -> two commands."""
    return [
        ActionStarted("c1", None, "Root.web", "deploy", ("v1.2",), mask_params({"db_password": SECRET}),
                      hosts=("web1", "web2"), user="alice", time=100.0),
        ActionStarted("c2", "c1", "Root.web.Git", "checkout", ("main",), {}, hosts=("web1",), time=100.5),
        CommandStarted("k1", "web1", "git checkout main", call_id="c2", time=100.6),
        CommandOutput("k1", "web1", "Switched to branch 'main'\n", call_id="c2"),
        CommandFinished("k1", "web1", "git checkout main", 0, 0.4, call_id="c2", time=101.0),
        CommandStarted("k2", "web1", "PGPASSWORD=%s psql -c 'select 1'" % SECRET, use_sudo=True, call_id="c2",
                       time=101.0),
        CommandFinished("k2", "web1", "PGPASSWORD=%s psql -c 'select 1'" % SECRET, 2, 0.25,
                        error="psql: password=%s rejected" % SECRET, use_sudo=True, call_id="c2", time=101.25),
        FileTransferred("web1", "put", "/etc/app.conf", "/tmp/app.conf", call_id="c2"),
        StatusChanged("UNPACK", host="web1", detail="token=%s" % SECRET, call_id="c2"),
        ActionFinished("c2", "FAILED", error="Traceback...\nExecCommandFailed: exit status 2", time=101.5),
        ActionFinished("c1", "SUCCESS", time=103.0),
    ]


# -- masking -------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("mysql --password=abc -e x", "mysql --password=%s -e x" % MASK),
    ("PGPASSWORD=abc psql", "PGPASSWORD=%s psql" % MASK),
    ("api_key: 'a b c' next", "api_key: '%s' next" % MASK),
    ('secret="x y"', 'secret="%s"' % MASK),
    ("echo hello world", "echo hello world"),
    ("user=bob host=db", "user=bob host=db"),
])
def test_mask_secret_assignments(text, expected):
    assert mask_secret_assignments(text) == expected


def test_format_call():
    assert format_call("deploy", ("v1",), {"force": True}) == "deploy('v1', force=True)"
    assert format_call("login", (), {"password": "x"}) == "login(password='%s')" % MASK
    assert format_call("run") == "run()"


# -- TextLogger ------------------------------------------------------------------

def test_text_logger_prints_actions_with_duration_and_outcome():
    out = io.StringIO()
    logger = TextLogger(out)
    for event in deployment_events():
        logger.emit(event)
    lines = out.getvalue().splitlines()
    assert lines == [
        "Root.web> deploy('v1.2', db_password='%s')" % MASK,
        "  Root.web.Git> checkout('main')",
        "  Root.web.Git> checkout('main'): FAILED: ExecCommandFailed: exit status 2 (1.00s)",
        "Root.web> deploy('v1.2', db_password='%s'): SUCCESS (3.00s)" % MASK,
    ]
    assert SECRET not in out.getvalue()


def test_text_logger_verbose_prints_commands_without_secrets():
    pty = DummyPty()
    logger = TextLogger(pty, verbose=True)
    for event in deployment_events():
        logger.emit(event)
    text = pty.get_output()
    assert "[web1] $ git checkout main\n" in text
    assert "[web1] sudo $ PGPASSWORD=%s psql -c 'select 1'\n" % MASK in text
    assert "[web1] exit status 2" in text
    assert "[web1] put /etc/app.conf" in text
    assert "[web1] UNPACK token=%s" % MASK in text
    assert "Switched to branch" not in text  # command output is the host's job to print
    assert SECRET not in text
    assert "\x1b[" not in text  # no colours when the pty is not a terminal


def test_text_logger_colours_the_slug_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True
    out = Tty()
    TextLogger(out, verbose=True).emit(CommandStarted("k", "web1", "uptime"))
    line = out.getvalue()
    assert "\x1b[" in line and "[web1]" in line and line.endswith("uptime\n")


def test_text_logger_lines_stay_whole_under_threads():
    out = io.StringIO()
    logger = TextLogger(out, verbose=True)

    def cell(i):
        for j in range(200):
            logger.emit(CommandStarted("k%d-%d" % (i, j), "host%d" % i, "echo %d" % j))
    threads = [threading.Thread(target=cell, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1600
    assert all(line.startswith("[host") and " $ echo " in line for line in lines)


def test_text_logger_never_raises():
    class Broken:
        def write(self, data):
            raise OSError("disk full")
    TextLogger(Broken()).emit(ActionStarted("c", None, "Root", "x"))


# -- DefaultLogger ---------------------------------------------------------------

class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def py_logger(request):
    log = logging.getLogger("deployer.test.%s" % request.node.name)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    handler = ListHandler()
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)


def test_default_logger_lines(py_logger):
    log, handler = py_logger
    logger = DefaultLogger(log)
    for event in deployment_events():
        logger.emit(event)
    info = [(r.levelname, r.getMessage()) for r in handler.records if r.levelno >= logging.INFO]
    assert info == [
        ("INFO", "command node=Root.web.Git host=web1 exit=0 duration=0.400s: git checkout main"),
        ("WARNING", "command node=Root.web.Git host=web1 sudo exit=2 duration=0.250s error=psql: password=%s "
                    "rejected: PGPASSWORD=%s psql -c 'select 1'" % (MASK, MASK)),
        ("INFO", "file node=Root.web.Git host=web1 put /etc/app.conf local=/tmp/app.conf"),
        ("INFO", "status node=Root.web.Git host=web1 UNPACK token=%s" % MASK),
        ("ERROR", "action node=Root.web.Git call=checkout('main') hosts=web1 outcome=FAILED duration=1.000s "
                  "id=c2 error=ExecCommandFailed: exit status 2"),
        ("INFO", "action node=Root.web call=deploy('v1.2', db_password='%s') hosts=web1,web2 outcome=SUCCESS "
                 "duration=3.000s id=c1" % MASK),
    ]
    debug = [r.getMessage() for r in handler.records if r.levelno == logging.DEBUG]
    assert debug[0].startswith("action started node=Root.web call=deploy(")
    assert "parent=c1" in debug[1]
    assert all(SECRET not in r.getMessage() for r in handler.records)
    # the structured event rides along on every record
    assert all(hasattr(r, "deployer_event") for r in handler.records)
    # finished calls are forgotten: the map does not grow with the run
    assert logger._calls == {}


def test_default_logger_commands_outside_actions_and_lost_connections(py_logger):
    log, handler = py_logger
    logger = DefaultLogger(log)
    logger.emit(CommandFinished("k", "db1", "pg_dump", None, 30.0, error="connection lost"))
    (record,) = handler.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "command node=- host=db1 exit=- duration=30.000s error=connection lost: pg_dump"


def test_default_logger_to_a_log_file_as_the_shell_does():
    tmp = tempfile.mkdtemp(prefix="deployer-log-")
    path = os.path.join(tmp, "deploy.log")
    log = logging.getLogger("deployer.test.file")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = logging.FileHandler(path)
    log.addHandler(handler)
    try:
        logger = MultiLogger([DefaultLogger(log), TextLogger(io.StringIO())])
        for event in deployment_events():
            logger.emit(event)
    finally:
        log.removeHandler(handler)
        handler.close()
    content = open(path).read()
    assert content.count("\n") == 6
    assert "action node=Root.web call=deploy(" in content
    assert SECRET not in content


def test_default_logger_uses_the_deployer_logger_by_default():
    assert DefaultLogger().logger is logging.getLogger("deployer")
