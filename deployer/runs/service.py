"""``deployer serve``: the run history and background runs over HTTP (Twisted web).

=======================  ====================================================
``POST /runs``           start an action in the background: 201 ``{"id": …}``
``GET /runs``            run summaries, newest first (``status``, ``node``,
                         ``since``, ``limit``, ``offset``)
``GET /runs/{id}``       the whole record, or 404
``GET /runs/{id}/events``  the run's history and commands as NDJSON while it
                         runs; ends with ``{"type": "end", "status": …}``
``GET /nodes``           the node tree with its actions
``GET /openapi.json``    this API's OpenAPI document (no token needed)
=======================  ====================================================

Store calls (and starting a run) happen in the reactor's thread pool, each
pool thread with its own store connection, so a slow store delays only the
requests that wait for it, never the others or a live event stream.

It listens on 127.0.0.1 by default; every request (but the OpenAPI document)
needs ``Authorization: Bearer TOKEN``, the token being created on first start
in ``token_file`` (mode 0600, in the state directory). Errors are JSON
``{"error": …}``: malformed body 400, unknown node or action 422, missing
thing 404, no or wrong token 401.

Before a run starts, the action's check hook (:func:`run_check`) may refuse it:
raising :class:`~deployer.runs.errors.NotFoundError` answers 404 (a missing
package), :class:`~deployer.runs.errors.RunRequestError` 422. For tests::

    site, api = build_site(Root, store_url='sqlite:///tmp/runs.db', token='t')
    port = reactor.listenTCP(0, site, interface='127.0.0.1')
"""
from __future__ import annotations

import argparse
import hmac
import inspect
import json
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from twisted.internet import reactor as default_reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from deployer.cli.loading import spec_for_class
from deployer.runs.errors import BackgroundRunError, NotFoundError, RunNotFound, RunRequestError, RunStoreError
from deployer.runs.model import ALL_STATES
from deployer.runs.stores import open_store, store_url_from_environment
from deployer.runs.stores.base import RunStore

__all__ = ["main", "build_site", "RunsAPI", "NodeCatalog", "run_check", "load_or_create_token", "openapi_document"]

MAX_BODY = 64 * 1024
MAX_LIMIT = 500
MAX_OFFSET = 10 ** 9
#: Seconds between two polls of the store for a live event stream.
EVENTS_POLL_INTERVAL = 0.25

Starter = Callable[..., str]


def run_check(check: Callable[..., None]) -> Callable[[Any], Any]:
    """Give an action a check the service runs before starting it (put it right above ``def``)::

        def package_exists(node, package_id, *rest):
            if not os.path.exists(...):
                raise PackageNotFound(package_id)      # a NotFoundError: HTTP 404

        @run_check(package_exists)
        def deploy(self, package_id): ...

    ``check(node, *parameters)`` gets the bare node (not an Env: nothing runs on hosts).
    """
    def decorate(func: Any) -> Any:
        func.deployer_run_check = check
        return func
    return decorate


class NodeCatalog:
    """The node tree of a root node class: what may be run, and checking a request."""

    def __init__(self, root_node_class: type) -> None:
        from deployer.inspection import Inspector

        self._inspector = Inspector
        self.root_class = root_node_class
        self.root = root_node_class()
        self.root_name = self._inspector(self.root).get_name()

    def resolve(self, path: str) -> Any:
        """The node at ``path`` (``Root.web.git``; the root's name may be left out)."""
        parts = [p for p in (path or "").split(".") if p]
        if parts and parts[0] == self.root_name:
            parts = parts[1:]
        node = self.root
        for i, name in enumerate(parts):
            insp = self._inspector(node)
            if name.startswith("_") or not insp.has_childnode(name):
                raise RunRequestError("unknown node %r" % ".".join([self.root_name, *parts[:i + 1]]))
            node = insp.get_childnode(name)
        return node

    def node_path(self, node: Any) -> str:
        return ".".join(self._inspector(node).get_path())

    def check(self, path: str, action: str, params: Sequence[str]) -> str:
        """Validate a run request; return the node path relative to the root (for ``--path``)."""
        return self.check_action(path, action, params)[0]

    def check_action(self, path: str, action: str, params: Sequence[str]) -> tuple[str, Any]:
        """:meth:`check`, also returning the action's function."""
        node = self.resolve(path)
        insp = self._inspector(node)
        full = self.node_path(node)
        if not action or action.startswith("_") or not insp.has_action(action):
            raise RunRequestError("node %r has no action %r" % (full, action))
        func = insp.get_action(action).func
        try:
            inspect.signature(func).bind(None, *params)
        except TypeError as e:
            raise RunRequestError("%s.%s: %s" % (full, action, e)) from None
        except ValueError:
            pass                        # no signature to check against
        check = getattr(func, "deployer_run_check", None)
        if check is not None:
            check(node, *params)
        return ".".join(insp.get_path()[1:]), func

    def tree(self, node: Any = None) -> dict[str, Any]:
        """``{"name", "path", "actions": [{"name", "doc", "parameters"}], "children": [...]}``."""
        node = self.root if node is None else node
        insp = self._inspector(node)
        actions = []
        for a in insp.get_actions(include_private=False):
            actions.append({"name": a.name, "doc": inspect.cleandoc(a.func.__doc__ or "") if a.func else "",
                            "parameters": _parameters(a.func)})
        return {"name": insp.get_name(), "path": self.node_path(node), "actions": actions,
                "children": [self.tree(c) for c in insp.get_childnodes(include_private=False)]}


def _parameters(func: Any) -> list[str]:
    try:
        params = list(inspect.signature(func).parameters.values())[1:]
    except (TypeError, ValueError):
        return []
    out = []
    for p in params:
        if p.kind == p.VAR_POSITIONAL:
            out.append("*" + p.name)
        elif p.kind != p.VAR_KEYWORD:
            out.append(p.name if p.default is p.empty else "[%s]" % p.name)
    return out


class _HTTPError(Exception):
    def __init__(self, code: int, message: str, headers: Optional[dict[str, str]] = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}


class RunsAPI(Resource):
    """The REST resource. ``starter`` is :func:`~deployer.runs.background.start_background`.

    ``store`` serves the reactor thread's own needs; each thread of ``reactor``'s
    pool opens its own store on ``store_url`` (closed by :meth:`close`).
    """

    isLeaf = True

    def __init__(self, catalog: NodeCatalog, spec: str, store: RunStore, store_url: str, token: str,
                 starter: Optional[Starter] = None, clock: Any = None, reactor: Any = None) -> None:
        super().__init__()
        if starter is None:
            from deployer.runs.background import start_background
            starter = start_background
        self.catalog = catalog
        self.spec = spec
        self.store = store
        self.store_url = store_url
        self._token = token
        self.starter = starter
        self.reactor = reactor if reactor is not None else default_reactor
        self.clock = clock if clock is not None else self.reactor
        self._local = threading.local()
        self._stores_lock = threading.Lock()
        self._thread_stores: list[RunStore] = []

    # -- the store, off the reactor ----------------------------------------------------

    def thread_store(self) -> RunStore:
        """The calling thread's own store (one connection per pool thread)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.store_url)
            self._local.store = store
            with self._stores_lock:
                self._thread_stores.append(store)
        return store

    def in_thread(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred:
        """``func(*args, **kwargs)`` in the reactor's thread pool; a Deferred of its result."""
        return deferToThreadPool(self.reactor, self.reactor.getThreadPool(), func, *args, **kwargs)

    def close(self) -> None:
        """Close every store this resource opened (and ``store``)."""
        with self._stores_lock:
            stores, self._thread_stores = self._thread_stores, []
        for store in [*stores, self.store]:
            try:
                store.close()
            except Exception:
                pass

    # -- dispatch ----------------------------------------------------------------------

    def render(self, request: Request) -> Any:
        try:
            result = self._dispatch(request)
        except Exception:
            return self._error(request, Failure())
        if not isinstance(result, Deferred):
            return result
        # The answer comes from a pool thread: write it (or the error) when it is there,
        # unless the client has gone meanwhile.
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))

        def send(body: Any) -> None:
            if body is NOT_DONE_YET or gone or request.finished:
                return
            request.write(body)
            request.finish()
        result.addErrback(lambda failure: self._error(request, failure)).addCallback(send)
        result.addErrback(_report_bug)
        return NOT_DONE_YET

    def _error(self, request: Request, failure: Failure) -> bytes:
        """The JSON error answer for ``failure``: one mapping for every request."""
        e = failure.value
        if isinstance(e, _HTTPError):
            for name, value in e.headers.items():
                request.setHeader(name, value)
            return self._json(request, {"error": e.message}, e.code)
        if isinstance(e, (RunStoreError, BackgroundRunError)):
            return self._json(request, {"error": str(e)}, http.SERVICE_UNAVAILABLE)
        # A bug: say so in JSON (no internals to the client), the traceback to our stderr.
        failure.printTraceback(file=sys.stderr)
        return self._json(request, {"error": "internal error: %s" % type(e).__name__}, http.INTERNAL_SERVER_ERROR)

    def _dispatch(self, request: Request) -> Any:
        method = request.method.decode("ascii", "replace")
        parts = [p.decode("utf-8", "replace") for p in request.path.split(b"/") if p]
        if parts == ["openapi.json"]:
            self._allow(method, "GET")
            return self._json(request, openapi_document())
        self._authorize(request)
        return self._route(request, method, parts)

    def _route(self, request: Request, method: str, parts: list[str]) -> Any:
        if parts == ["nodes"]:
            self._allow(method, "GET")
            return self._json(request, self.catalog.tree())
        if parts == ["runs"]:
            self._allow(method, "GET", "POST")
            return self._post_run(request) if method == "POST" else self._list_runs(request)
        if len(parts) == 2 and parts[0] == "runs":
            self._allow(method, "GET")
            run_id = parts[1]
            return self.in_thread(lambda: self._get_run(run_id).to_dict()).addCallback(
                lambda record: self._json(request, record))
        if len(parts) == 3 and parts[0] == "runs" and parts[2] == "events":
            self._allow(method, "GET")
            run_id = parts[1]
            return self.in_thread(lambda: self._get_run(run_id).id).addCallback(
                lambda found: self._events(request, found))
        raise _HTTPError(http.NOT_FOUND, "no such resource: /%s" % "/".join(parts))

    def _allow(self, method: str, *allowed: str) -> None:
        if method not in allowed:
            raise _HTTPError(http.NOT_ALLOWED, "method %s not allowed here (use %s)" % (method, ", ".join(allowed)),
                             {"Allow": ", ".join(allowed)})

    def _authorize(self, request: Request) -> None:
        header = (request.getHeader("authorization") or "").strip()
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            request.setHeader("WWW-Authenticate", 'Bearer realm="deployer"')
            raise _HTTPError(http.UNAUTHORIZED, "missing or wrong bearer token" if header else
                             "missing bearer token (Authorization: Bearer TOKEN)")

    def _json(self, request: Request, data: Any, code: int = http.OK) -> bytes:
        request.setResponseCode(code)
        request.setHeader("Content-Type", "application/json")
        request.setHeader("Cache-Control", "no-store")
        return json.dumps(data, sort_keys=True, default=str).encode() + b"\n"

    # -- handlers (what runs in a pool thread touches no request) ----------------------

    def _get_run(self, run_id: str) -> Any:
        try:
            return self.thread_store().get_run(run_id)
        except RunNotFound:
            raise _HTTPError(http.NOT_FOUND, "no run with id %r" % run_id) from None

    def _list_runs(self, request: Request) -> Deferred:
        args = {k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs]
                for k, vs in (request.args or {}).items()}
        unknown = set(args) - {"status", "node", "since", "limit", "offset"}
        if unknown:
            raise _HTTPError(http.BAD_REQUEST, "unknown query parameter(s): %s" % ", ".join(sorted(unknown)))

        def one(name: str) -> Optional[str]:
            values = args.get(name)
            return values[-1] if values else None
        status = one("status")
        if status is not None and status not in ALL_STATES:
            raise _HTTPError(http.BAD_REQUEST, "status must be one of %s" % ", ".join(ALL_STATES))
        since = _number(one("since"), "since", float, minimum=0)
        limit = _number(one("limit"), "limit", int, minimum=1, maximum=MAX_LIMIT)
        offset = _number(one("offset"), "offset", int, minimum=0, maximum=MAX_OFFSET)
        limit = 50 if limit is None else limit
        offset = 0 if offset is None else offset
        node = one("node") or None

        def page() -> dict[str, Any]:
            runs = self.thread_store().list_runs(status=status, node=node, since=since, limit=limit, offset=offset)
            return {"runs": [r.summary_dict() for r in runs], "limit": limit, "offset": offset,
                    "next_offset": offset + len(runs) if len(runs) == limit else None}
        return self.in_thread(page).addCallback(lambda data: self._json(request, data))

    def _post_run(self, request: Request) -> Deferred:
        body = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(body) > MAX_BODY:
            raise _HTTPError(http.REQUEST_ENTITY_TOO_LARGE, "body larger than %d bytes" % MAX_BODY)
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise _HTTPError(http.BAD_REQUEST, "malformed JSON body: %s" % e) from None
        if not isinstance(data, dict):
            raise _HTTPError(http.BAD_REQUEST, "the body must be a JSON object")
        unknown = set(data) - {"node", "action", "parameters", "sandbox"}
        if unknown:
            raise _HTTPError(http.BAD_REQUEST, "unknown field(s): %s" % ", ".join(sorted(unknown)))
        node, action = data.get("node", ""), data.get("action")
        params, sandbox = data.get("parameters", []), data.get("sandbox", False)
        if not isinstance(node, str):
            raise _HTTPError(http.BAD_REQUEST, "'node' must be a string (a node path like Root.web)")
        if not isinstance(action, str) or not action:
            raise _HTTPError(http.BAD_REQUEST, "'action' must be a non-empty string")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            raise _HTTPError(http.BAD_REQUEST, "'parameters' must be a list of strings")
        if not isinstance(sandbox, bool):
            raise _HTTPError(http.BAD_REQUEST, "'sandbox' must be true or false")
        # The check hook is the tree's code: it runs here, in the reactor thread, one at a
        # time (node code need not be thread-safe). Starting the run writes the store.
        try:
            path, func = self.catalog.check_action(node, action, params)
        except NotFoundError as e:
            raise _HTTPError(http.NOT_FOUND, str(e)) from None
        except RunRequestError as e:
            raise _HTTPError(422, str(e)) from None
        from deployer.runs.background import parameter_names

        names = parameter_names(func)

        def start() -> str:
            return self.starter(self.spec, path, action, params, sandbox=sandbox, store_url=self.store_url,
                                param_names=names)

        def started(run_id: str) -> bytes:
            request.setHeader("Location", "/runs/%s" % run_id)
            return self._json(request, {"id": run_id, "status": "INIT", "url": "/runs/%s" % run_id}, http.CREATED)
        return self.in_thread(start).addCallback(started)

    def _events(self, request: Request, run_id: str) -> Any:
        request.setResponseCode(http.OK)
        request.setHeader("Content-Type", "application/x-ndjson")
        request.setHeader("Cache-Control", "no-store")
        stream = _EventStream(self, run_id, request)
        loop = LoopingCall(stream.poll)
        loop.clock = self.clock
        stream.loop = loop

        def stop(_: Any) -> None:
            if loop.running:
                loop.stop()
        request.notifyFinish().addBoth(stop)
        # poll returns a Deferred (the read runs in a pool thread): LoopingCall waits for
        # it, so reads of one stream never overlap.
        loop.start(EVENTS_POLL_INTERVAL, now=True).addErrback(_report_bug)
        return NOT_DONE_YET


class _EventStream:
    """Writes what is new in a run's record, one JSON object per line, until it ends."""

    def __init__(self, api: RunsAPI, run_id: str, request: Request) -> None:
        self.api = api
        self.run_id = run_id
        self.request = request
        self.loop: Optional[LoopingCall] = None
        self.history_seq = 0
        self.commands: dict[str, tuple[Any, ...]] = {}
        self.first = True

    def _gone(self) -> bool:
        return self.request.finished or getattr(self.request, "_disconnected", False)

    def _write(self, obj: dict[str, Any]) -> None:
        self.request.write(json.dumps(obj, sort_keys=True, default=str).encode() + b"\n")

    def poll(self) -> Optional[Deferred]:
        if self._gone():
            self._stop()
            return None
        return self.api.in_thread(lambda: self.api.thread_store().get_run(self.run_id)).addCallbacks(
            self._show, self._failed)

    def _failed(self, failure: Failure) -> None:
        if self._gone():
            self._stop()
            return
        if not failure.check(RunNotFound, RunStoreError):
            failure.printTraceback(file=sys.stderr)
        self._write({"type": "error", "error": str(failure.value)})
        self._finish()

    def _show(self, run: Any) -> None:
        if self._gone():
            self._stop()
            return
        if self.first:
            self._write({"type": "run", "run": run.summary_dict()})
            self.first = False
        for h in run.history:
            if h.seq > self.history_seq:
                self._write({"type": "history", **h.to_dict()})
                self.history_seq = h.seq
        for c in run.commands:
            key = (c.end, c.exit_code, c.output_tail)
            if self.commands.get(c.command_id) != key:
                self.commands[c.command_id] = key
                self._write({"type": "command", **c.to_dict()})
        if run.finished:
            self._write({"type": "end", "status": run.status, "error": run.error, "end": run.end})
            self._finish()

    def _stop(self) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()

    def _finish(self) -> None:
        self._stop()
        if not self.request.finished:
            self.request.finish()


def _report_bug(failure: Failure) -> None:
    # Only reached by a bug in writing an answer: the traceback to our stderr, not lost.
    failure.printTraceback(file=sys.stderr)


def _number(text: Optional[str], name: str, kind: type, minimum: Optional[float] = None,
            maximum: Optional[float] = None) -> Any:
    if text is None:
        return None
    try:
        value = kind(text)
    except ValueError:
        raise _HTTPError(http.BAD_REQUEST, "%s must be a %s" % (name, "number" if kind is float else "whole number")) \
            from None
    if kind is float and value != value:   # NaN
        raise _HTTPError(http.BAD_REQUEST, "%s must be a number" % name)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _HTTPError(http.BAD_REQUEST, "%s must be between %s and %s" % (name, minimum, maximum))
    return value


# -- token ----------------------------------------------------------------------------

def default_token_file() -> Path:
    from deployer.paths import state_dir
    return state_dir() / "service-token"


def load_or_create_token(path: Optional[os.PathLike] = None) -> str:
    """The bearer token in ``path`` (created, mode 0600, when missing). Refuses a file others can read."""
    p = Path(path) if path is not None else default_token_file()
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        st = p.stat()
        if st.st_mode & 0o077 or st.st_uid != os.getuid():
            raise PermissionError("token file %s must be owned by you and readable by you only (chmod 600)" % p)
        token = p.read_text().strip()
        if not token:
            raise PermissionError("token file %s is empty" % p)
        return token
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


# -- OpenAPI --------------------------------------------------------------------------

def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 description of this service."""
    error = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    unauthorized = dict(error, description="missing or wrong bearer token")
    nullable_num = {"type": "number", "nullable": True}
    nullable_str = {"type": "string", "nullable": True}
    run_props = {
        "id": {"type": "string"}, "node_path": {"type": "string"}, "action": {"type": "string"},
        "status": {"type": "string", "enum": list(ALL_STATES)}, "start": {"type": "number"}, "end": nullable_num,
        "args": {"type": "array", "items": {}}, "kwargs": {"type": "object"}, "user": {"type": "string"},
        "hosts": {"type": "array", "items": {"type": "string"}}, "sandbox": {"type": "boolean"},
        "error": nullable_str, "log_path": nullable_str, "heartbeat_at": nullable_num,
        "owner": {"type": "object", "nullable": True, "properties": {
            "pid": {"type": "integer"}, "hostname": {"type": "string"}, "boot_id": {"type": "string"},
            "proc_start": {"type": "integer"}}},
    }
    summary = {"type": "object", "required": ["id", "node_path", "action", "status", "start"], "properties": run_props}
    run = {"type": "object", "required": ["id", "node_path", "action", "status", "start", "history", "commands"],
           "properties": dict(run_props, history={"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"}},
                              commands={"type": "array", "items": {"$ref": "#/components/schemas/Command"}})}
    run_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    json_of = lambda ref: {"application/json": {"schema": {"$ref": "#/components/schemas/%s" % ref}}}  # noqa: E731
    return {
        "openapi": "3.0.3",
        "info": {"title": "deployer runs", "version": "1.0",
                 "description": "Start actions in the background and read the recorded history of runs."},
        "security": [{"bearer": []}],
        "paths": {
            "/runs": {
                "get": {"summary": "Recorded runs, newest first", "operationId": "listRuns", "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(ALL_STATES)}},
                    {"name": "node", "in": "query", "schema": {"type": "string"}},
                    {"name": "since", "in": "query", "schema": {"type": "number", "minimum": 0}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                   "maximum": MAX_OFFSET}}],
                    "responses": {"200": {"description": "a page of runs", "content": json_of("RunList")},
                                  "400": error, "401": unauthorized}},
                "post": {"summary": "Start an action in the background", "operationId": "startRun",
                         "requestBody": {"required": True, "content": json_of("RunRequest")},
                         "responses": {"201": {"description": "started", "content": json_of("RunStarted")},
                                       "400": error, "401": unauthorized, "404": dict(error, description=
                                       "something the action needs does not exist"),
                                       "413": error, "422": dict(error, description="unknown node or action")}},
            },
            "/runs/{id}": {"get": {"summary": "One run's record", "operationId": "getRun", "parameters": [run_id],
                                   "responses": {"200": {"description": "the record", "content": json_of("Run")},
                                                 "401": unauthorized, "404": error}}},
            "/runs/{id}/events": {"get": {
                "summary": "The run's history and commands as they are recorded (NDJSON), until it ends",
                "operationId": "runEvents", "parameters": [run_id],
                "responses": {"200": {"description": "one JSON object per line",
                                      "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                              "401": unauthorized, "404": error}}},
            "/nodes": {"get": {"summary": "The node tree with its actions", "operationId": "getNodes",
                               "responses": {"200": {"description": "the tree", "content": json_of("Node")},
                                             "401": unauthorized}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.0",
                                                            "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
                "RunRequest": {"type": "object", "required": ["action"], "additionalProperties": False, "properties": {
                    "node": {"type": "string", "description": "node path, e.g. Root.web (the root's name optional)"},
                    "action": {"type": "string", "minLength": 1},
                    "parameters": {"type": "array", "items": {"type": "string"}},
                    "sandbox": {"type": "boolean"}}},
                "RunStarted": {"type": "object", "required": ["id", "status", "url"], "properties": {
                    "id": {"type": "string"}, "status": {"type": "string"}, "url": {"type": "string"}}},
                "RunSummary": summary,
                "Run": run,
                "RunList": {"type": "object", "required": ["runs", "limit", "offset"], "properties": {
                    "runs": {"type": "array", "items": {"$ref": "#/components/schemas/RunSummary"}},
                    "limit": {"type": "integer"}, "offset": {"type": "integer"},
                    "next_offset": {"type": "integer", "nullable": True}}},
                "HistoryEntry": {"type": "object", "required": ["seq", "time", "status", "kind"], "properties": {
                    "seq": {"type": "integer"}, "time": {"type": "number"}, "status": {"type": "string"},
                    "kind": {"type": "string", "enum": ["run", "step", "action", "file"]}, "host": nullable_str,
                    "detail": {"type": "string"}}},
                "Command": {"type": "object", "required": ["command_id", "host", "command", "start"], "properties": {
                    "command_id": {"type": "string"}, "host": {"type": "string"}, "command": {"type": "string"},
                    "start": {"type": "number"}, "end": nullable_num,
                    "exit_code": {"type": "integer", "nullable": True}, "duration": nullable_num,
                    "output_tail": {"type": "string"}, "error": nullable_str, "use_sudo": {"type": "boolean"},
                    "sandbox": {"type": "boolean"}, "seq": {"type": "integer"}}},
                "Node": {"type": "object", "required": ["name", "path", "actions", "children"], "properties": {
                    "name": {"type": "string"}, "path": {"type": "string"},
                    "actions": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "doc": {"type": "string"},
                        "parameters": {"type": "array", "items": {"type": "string"}}}}},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
            },
        },
    }


# -- assembling -----------------------------------------------------------------------

def build_site(root_node_class: type, store_url: Optional[str] = None, token: Optional[str] = None,
               token_file: Optional[os.PathLike] = None, spec: Optional[str] = None,
               starter: Optional[Starter] = None, clock: Any = None) -> tuple[Site, RunsAPI]:
    """The Twisted site of the service (and its resource) for ``root_node_class``.

    Raises :class:`RunStoreError` when the store cannot be opened.
    """
    url = store_url or store_url_from_environment()
    store = open_store(url)
    api = RunsAPI(NodeCatalog(root_node_class), spec or spec_for_class(root_node_class), store, url,
                  token if token is not None else load_or_create_token(token_file), starter=starter, clock=clock)
    site = Site(api)
    site.displayTracebacks = False      # never leak internals in an error page
    return site, api


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deployer serve", description="The run history and background runs over HTTP.")
    p.add_argument("--port", type=int, default=8640, help="TCP port (0: any free port; default 8640)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--token-file", help="bearer token file (default: service-token in the state directory)")
    p.add_argument("--store", help="run store URL (default: $DEPLOYER_RUNS_URL or the state dir's runs.db)")
    return p


def main(root_node_class: type, argv: Optional[Sequence[str]] = None) -> int:
    """``deployer serve [--port P] [--host H] [--token-file F] [--store URL]``; runs until stopped."""
    try:
        args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    token_file = Path(args.token_file) if args.token_file else default_token_file()
    try:
        site, api = build_site(root_node_class, store_url=args.store, token_file=token_file)
    except (RunStoreError, PermissionError, OSError) as e:
        sys.stderr.write("deployer serve: %s\n" % e)
        return 1
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write("deployer serve: warning: listening on %s: reachable from other machines "
                         "(the token is sent in clear over plain HTTP)\n" % args.host)
    try:
        port = default_reactor.listenTCP(args.port, site, interface=args.host)
    except Exception as e:          # CannotListenError and friends
        sys.stderr.write("deployer serve: cannot listen on %s:%s: %s\n" % (args.host, args.port, e))
        return 1
    sys.stdout.write("deployer serve: http://%s:%d/ (store %s; token in %s)\n"
                     % (args.host, port.getHost().port, api.store.url, token_file))
    sys.stdout.flush()
    default_reactor.run()
    api.close()
    return 0

