"""The logger interface: anything that receives :mod:`deployer.loggers.events`."""
from __future__ import annotations

import dataclasses
from typing import Iterable

from deployer.loggers.events import Event
from deployer.loggers.masking import mask_event


class Logger:
    """Receives events. Subclasses override :meth:`emit`.

    A logger must not raise: a failing log sink must not fail a deployment. The
    run recorder is the exception that proves the rule: it checks its store
    *before* a run starts (see ``deployer.runs``), not while it runs.
    """

    def emit(self, event: Event) -> None:
        """Receive one event."""

    def bind(self, call_id: str | None) -> "Logger":
        """A logger that stamps ``call_id`` on events that lack one."""
        return BoundLogger(self, call_id)

    def known_secrets(self) -> frozenset[str]:
        """Secret values this logger (or one it passes events to) masks.

        Hosts hold back a chunk's tail that could start one of them, so that a
        secret split over two output chunks is masked too.
        """
        return frozenset()

    def close(self) -> None:
        """Flush and release resources."""


def _known_secrets(logger: object) -> frozenset[str]:
    # Loggers written by users need not derive from Logger.
    known = getattr(logger, "known_secrets", None)
    return frozenset(known()) if callable(known) else frozenset()


class NullLogger(Logger):
    """Discards every event."""


class BoundLogger(Logger):
    """Stamps a call id on command, file and status events, then passes them on."""

    def __init__(self, inner: Logger, call_id: str | None) -> None:
        self.inner = inner
        self.call_id = call_id

    def emit(self, event: Event) -> None:
        if self.call_id is not None and getattr(event, "call_id", "x") is None:
            event = dataclasses.replace(event, call_id=self.call_id)
        self.inner.emit(event)

    def bind(self, call_id: str | None) -> Logger:
        return BoundLogger(self.inner, call_id)

    def known_secrets(self) -> frozenset[str]:
        return _known_secrets(self.inner)

    def close(self) -> None:
        self.inner.close()


class MultiLogger(Logger):
    """Sends every event to several loggers."""

    def __init__(self, loggers: Iterable[Logger]) -> None:
        self.loggers = [l for l in loggers if l is not None]

    def emit(self, event: Event) -> None:
        for logger in self.loggers:
            logger.emit(event)

    def known_secrets(self) -> frozenset[str]:
        return frozenset().union(*(_known_secrets(logger) for logger in self.loggers))

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()


class SecretMaskingLogger(Logger):
    """Masks known secret values (e.g. an action's ``password`` argument) in every event.

    The Env puts one around the loggers of an action call that received
    secrets, so the values stay out of the events of the whole call tree: in
    commands, their output, errors and the arguments of nested calls.
    """

    def __init__(self, inner: Logger, secrets: Iterable[str]) -> None:
        self.inner = inner
        self.secrets = frozenset(s for s in secrets if s)

    def emit(self, event: Event) -> None:
        self.inner.emit(mask_event(event, self.secrets))

    def known_secrets(self) -> frozenset[str]:
        return self.secrets | _known_secrets(self.inner)

    # bind() is Logger's: a BoundLogger around this one, so code that asks
    # "is this logger bound to an action call?" still sees a BoundLogger.

    def close(self) -> None:
        self.inner.close()
