"""The one error the test beds raise."""
from __future__ import annotations


class TestBedError(RuntimeError):
    """A test bed could not be set up or started; the message says why."""

    __test__ = False  # not a pytest test class, despite the name
