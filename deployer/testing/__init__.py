"""Throwaway servers on loopback for tests and benchmarks.

- :mod:`deployer.testing.sshd`: :class:`~deployer.testing.sshd.SSHTestBed`, an
  OpenSSH server listening on 127.0.0.1 … 127.0.0.N (N addresses act as N hosts).
- :mod:`deployer.testing.postgres`: :class:`~deployer.testing.postgres.PostgresTestBed`,
  a PostgreSQL cluster on 127.0.0.1.

Both are plain context managers, usable outside pytest, and raise
:class:`TestBedError` (with the server's own error output) when they cannot start.
"""
from deployer.testing.errors import TestBedError

__all__ = ["TestBedError"]
