"""Errors of the run history, the background runner and the REST service."""
from __future__ import annotations

from deployer.exceptions import DeployerException


class RunStoreError(DeployerException):
    """The run store cannot be opened or written; a run that needs it does not start.

    >>> raise RunStoreError('sqlite:////nonexistent/x.db', 'unable to open database file')
    Traceback (most recent call last):
    ...
    deployer.runs.errors.RunStoreError: Cannot use the run store sqlite:////nonexistent/x.db: unable to open database file
    """

    def __init__(self, url: str, cause: str) -> None:
        self.url = url
        self.cause = cause
        super().__init__("Cannot use the run store %s: %s" % (url, cause))

    def __reduce__(self):
        return (type(self), (self.url, self.cause))


class RunNotFound(DeployerException, KeyError):
    """No run with this id is in the store."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        DeployerException.__init__(self, "No run with id %r" % run_id)

    def __str__(self) -> str:
        return "No run with id %r" % self.run_id

    def __reduce__(self):
        return (type(self), (self.run_id,))


class NotFoundError(DeployerException):
    """Something a run asks for does not exist (a package, a file): HTTP 404 in the service.

    Raise it (or a subclass) from a node's ``run_checks`` hook; see docs/runs.md.
    """


class RunRequestError(DeployerException):
    """A run request names an unknown node or action, or bad parameters: HTTP 422."""


class BackgroundRunError(DeployerException):
    """A background run's process could not be started (its record says so too)."""
