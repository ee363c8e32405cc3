"""The reference design's own example: deploy a package as a batch, with a status per step.

(``python-class-in-design``: ``Package``, ``extract_manifest_from_package``,
``Batch``/``BatchProcess``, ``DeploymentStatus`` and ``deploy_package``.)

A package is ``<packages_dir>/<id>.tar.gz`` holding a ``manifest.json``. The
``deploy`` action uploads it to every host of the node and runs a batch there::

    COPY      the upload arrived intact (sha256)
    PREVIEW   the archive lists
    UNPACK    unpacked into <deploy_root>/<name>/<id>/
    EXTRACT   its manifest.json is there
    INSTALLED the manifest's "install" command ran (when it has one)
    REMOVED   the old "current" link is gone (errors accepted)
    DEPLOYED  "current" points at the new release
    LISTED    ls -al of the release

Every status lands in the run record with its time, per host. Run it::

    DEPLOYER_PACKAGES_DIR=/srv/packages deployer run examples/package_deploy.py:PackageDeployment \\
        --background -- deploy myapp-1.2
    deployer runs follow RUN_ID

or over HTTP (``deployer serve examples/package_deploy.py:PackageDeployment``)::

    curl -H "Authorization: Bearer $(cat ~/.local/state/deployer/service-token)" \\
         -d '{"action": "deploy", "parameters": ["myapp-1.2"]}' http://127.0.0.1:8640/runs

A package that is not there answers 404 before anything starts (the
:func:`~deployer.runs.service.run_check` hook raises :class:`PackageNotFound`,
a :class:`~deployer.runs.errors.NotFoundError`); a step that fails ends the
run ``FAILED`` at that step, with its output.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import tarfile
from typing import Any, Optional, Union

from deployer.batch import Batch, BatchProcess
from deployer.host import LocalHost
from deployer.node import Node
from deployer.runs.errors import NotFoundError
from deployer.runs.service import run_check
from deployer.utils import esc1

_MANIFEST = re.compile(r"(^|/)manifest\.json$", re.IGNORECASE)
_PACKAGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PackageNotFound(NotFoundError):
    """No such package in the packages directory (HTTP 404 from ``deployer serve``)."""

    def __init__(self, package_id: str, where: str) -> None:
        self.package_id = package_id
        self.where = where
        super().__init__("no package %r in %s" % (package_id, where))

    def __reduce__(self):
        return (type(self), (self.package_id, self.where))


class Package:
    """A package: id, name, file name, path, and the destination derived from an endpoint URL.

    >>> p = Package('42', '/srv/packages/myapp.tar.gz', 'https://api.example.com/')
    >>> (p.id, p.name, p.file_name, p.destination)
    ('42', 'myapp', 'myapp.tar.gz', 'https://myapp.example.com')
    """

    def __init__(self, package_id: str, package_path: str, endpoint_url: Optional[str] = None) -> None:
        self.id = package_id
        self.file_name = os.path.basename(package_path)
        self.name = self.get_package_name(package_path)
        self.path = os.path.abspath(os.path.expanduser(package_path))
        self.destination = self.get_destination(endpoint_url, self.name)
        self.cwd = os.path.dirname(self.path)

    @staticmethod
    def get_destination(endpoint_url: Optional[str], package_name: str) -> str:
        """``https://api.example.com`` and ``foo`` give ``https://foo.example.com`` ('' if no match)."""
        if endpoint_url:
            m = re.search(r"^(https?://)api\.(.+)$", endpoint_url.strip("/"))
            if m:
                return "%s%s.%s" % (m.group(1), package_name, m.group(2))
        return ""

    def get_package_manifest_filename(self) -> str:
        """``foo.json`` for package ``foo``."""
        return "%s.json" % self.name

    @staticmethod
    def get_package_name(package_path: str) -> str:
        """``foo`` from ``/path/foo.tar.gz``."""
        return os.path.splitext(os.path.splitext(os.path.basename(package_path))[0])[0]

    def sha256(self) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()


def extract_manifest(package: Union[str, bytes]) -> Optional[dict[str, Any]]:
    """The ``manifest.json`` of a ``.tar.gz`` (a path or its bytes), parsed; None when it has none."""
    fileobj = io.BytesIO(package) if isinstance(package, bytes) else None
    with tarfile.open(name=None if fileobj else package, fileobj=fileobj, mode="r:gz") as tar:
        for info in tar.getmembers():
            if info.isfile() and _MANIFEST.search(info.name):
                member = tar.extractfile(info)
                return json.loads(member.read().decode("utf-8")) if member else None
    return None


def packages_dir(node: Any = None) -> str:
    """Where packages are: ``DEPLOYER_PACKAGES_DIR``, else the node's ``packages_dir``."""
    return os.environ.get("DEPLOYER_PACKAGES_DIR") or getattr(node, "packages_dir", "~/packages")


def find_package(node: Any, package_id: str, endpoint_url: Optional[str] = None) -> Package:
    """The package ``package_id`` or :class:`PackageNotFound`."""
    where = os.path.expanduser(packages_dir(node))
    path = os.path.join(where, "%s.tar.gz" % package_id)
    if not _PACKAGE_ID.match(package_id or "") or not os.path.isfile(path):
        raise PackageNotFound(package_id, where)
    return Package(package_id, path, endpoint_url)


def package_exists(node: Any, package_id: str = "", *_: Any) -> None:
    """The service's check before it starts ``deploy``: a missing package is a 404."""
    find_package(node, package_id)


def deployment_status(run: Any) -> dict[str, Any]:
    """A run record in the reference's ``DeploymentStatus`` shape (``deploy_id``, ``history``, ...)."""
    def stamp(t: float) -> str:
        return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")
    steps = [h for h in run.history if h.kind in ("run", "step")]
    last = steps[-1] if steps else None
    return {"deploy_id": run.id, "deploy_status": run.status, "datetime": stamp(last.time) if last else "",
            "package": (run.args or ["N/A"])[0],
            "history": ["%s ~ %s%s" % (stamp(h.time), "[%s] " % h.host if h.host else "", h.status) for h in steps]}


class PackageDeployment(Node):
    """Deploy ``<packages_dir>/<id>.tar.gz`` to every host of this node."""

    class Hosts:
        host = LocalHost

    packages_dir = "~/packages"
    deploy_root = "~/deployments"
    endpoint_url = "https://api.example.com"
    #: Seconds a step may take.
    step_timeout = 300.0

    @run_check(package_exists)
    def deploy(self, package_id):
        """Upload package PACKAGE_ID to every host and deploy it as a batch."""
        package = find_package(self, package_id, self.endpoint_url)
        manifest = extract_manifest(package.path)
        if manifest is None:
            raise NotFoundError("package %s has no manifest.json" % package.file_name)
        deploy_root = os.environ.get("DEPLOYER_DEPLOY_ROOT") or self.deploy_root
        for host in self.hosts:
            deploy_on(host, package, manifest, deploy_root, self.step_timeout)
        return "%s deployed to %d host(s)%s" % (package.name, len(self.hosts),
                                               " at " + package.destination if package.destination else "")


def deploy_on(host: Any, package: Package, manifest: dict, deploy_root: str, step_timeout: float = 300.0) -> None:
    """Upload ``package`` to one host and deploy it there as a batch (raises BatchFailed)."""
    # The app's directory is named by the manifest when it says so, else by the file.
    base = "%s/%s" % (deploy_root.rstrip("/"), manifest.get("name") or package.name)
    release = "%s/%s" % (base, package.id)
    host.run("mkdir -p -- %s" % _path(release), interactive=False)
    with host.cd(base, expand=base.startswith("~")):
        host.put_file(package.path, "%s/%s" % (package.id, package.file_name))

    batch = Batch(release, timeout=step_timeout)
    batch.add("COPY", "echo '%s  %s' | sha256sum -c -" % (package.sha256(), esc1(package.file_name)),
              description="upload of %s verified" % package.file_name)
    batch.add("PREVIEW", ["tar", "tzf", package.file_name])
    batch.add("UNPACK", ["tar", "xzf", package.file_name])
    batch.add("EXTRACT", "find . -iname manifest.json -print -exec cat {} \\;")
    install = manifest.get("install")
    if install:
        batch.add("INSTALLED", str(install), description="manifest install command")
    batch.add("REMOVED", ["rm", "../current"], accept_error=True)
    batch.add("DEPLOYED", ["ln", "-s", package.id, "../current"],
              description="current -> %s%s" % (package.id, " (%s)" % package.destination
                                               if package.destination else ""))
    batch.add("LISTED", ["ls", "-al"])
    BatchProcess(batch, None, host).execute(raise_on_failure=True)


def _path(path: str) -> str:
    # Keep a leading ~ expandable by the remote shell; quote the rest.
    if path.startswith("~/"):
        return "~/'%s'" % esc1(path[2:])
    return "'%s'" % esc1(path)


if __name__ == "__main__":
    from deployer.client import start
    start(PackageDeployment)
