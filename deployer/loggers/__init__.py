"""Pluggable loggers: see :mod:`deployer.loggers.base` and :mod:`deployer.loggers.events`."""
from deployer.loggers.base import BoundLogger, Logger, MultiLogger, NullLogger
from deployer.loggers import events
from deployer.loggers.default import DefaultLogger
from deployer.loggers.text import TextLogger

#: The name the reference uses for the logger interface.
LoggerInterface = Logger

__all__ = ["Logger", "LoggerInterface", "NullLogger", "BoundLogger", "MultiLogger", "TextLogger",
           "DefaultLogger", "events"]
