"""Run history: every action run is recorded (see docs/architecture.md).

This package is being built; ``recorder_from_environment`` is the entry point
the tree uses.
"""
from __future__ import annotations

from typing import Optional

from deployer.loggers.base import Logger


def recorder_from_environment() -> Optional[Logger]:
    """The run recorder configured by the environment, or None when recording is off."""
    return None
