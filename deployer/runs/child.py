"""The process of a background run: ``python -m deployer.runs.child RUN_ID``.

The action and its parameters come as one JSON request on stdin, never on the
command line (which every user of the machine can read in ``ps``)::

    {"spec": "/abs/deploy.py:Root", "path": "web", "action": "deploy",
     "params": ["v1.2", "s3cret"], "sandbox": false}

The request is read at once and stdin then points at ``/dev/null`` (a
background run asks no questions). The run itself is exactly ``deployer run
SPEC --non-interactive [--path PATH] -- [sandbox] ACTION PARAM...``, called in
this process: the parameters reach the action, not ``/proc/PID/cmdline``.
``RUN_ID`` on the command line is only there for ``ps`` readers; the recorder
takes the id from ``DEPLOYER_RUN_ID``.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Any, BinaryIO, Optional, Sequence

__all__ = ["main", "encode_request", "read_request", "run_arguments"]

#: The largest request read from stdin (parameters are small; a runaway writer is not).
MAX_REQUEST = 16 * 1024 * 1024


def encode_request(spec: str, path: str, action: str, params: Sequence[str], sandbox: bool = False) -> bytes:
    """The request :func:`main` reads on stdin."""
    return json.dumps({"spec": spec, "path": path or "", "action": action, "params": [str(p) for p in params],
                       "sandbox": bool(sandbox)}).encode("utf-8")


def read_request(stream: BinaryIO) -> dict[str, Any]:
    """Read and check a request; raise ValueError saying what is wrong."""
    data = stream.read(MAX_REQUEST + 1)
    if len(data) > MAX_REQUEST:
        raise ValueError("request larger than %d bytes" % MAX_REQUEST)
    if not data:
        raise ValueError("no request on stdin")
    request = json.loads(data.decode("utf-8"))
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    for name in ("spec", "path", "action"):
        if not isinstance(request.get(name), str):
            raise ValueError("request field %r must be a string" % name)
    params = request.get("params")
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ValueError("request field 'params' must be a list of strings")
    if not isinstance(request.get("sandbox", False), bool):
        raise ValueError("request field 'sandbox' must be true or false")
    return request


def run_arguments(request: dict[str, Any]) -> list[str]:
    """The ``deployer`` arguments of a request (run in-process, never exec'd)."""
    args = ["run", request["spec"], "--non-interactive"]
    if request["path"]:
        args += ["--path", request["path"]]
    return args + ["--"] + (["sandbox"] if request.get("sandbox") else []) + [request["action"], *request["params"]]


def _stdin_to_devnull() -> None:
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    sys.stdin = open(0, "r", closefd=False)


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        request = read_request(sys.stdin.buffer)
    except (ValueError, OSError) as e:
        sys.stderr.write("deployer: background run: bad request on stdin: %s\n" % e)
        return 2
    _stdin_to_devnull()
    from deployer.cli.main import main as deployer_main

    return int(deployer_main(run_arguments(request)) or 0)


if __name__ == "__main__":
    sys.exit(main())
