"""Hosts: run commands, move files and stat paths on one machine.

:class:`Host` (in :mod:`deployer.host.base`) holds the behaviour; :class:`LocalHost`
and :class:`SSHHost` supply the transport.
"""
from deployer.host.base import Host, HostContext, Stat
from deployer.host.local import LocalHost

__all__ = ["Host", "HostContext", "Stat", "LocalHost", "SSHHost"]


def __getattr__(name: str):
    # paramiko is imported only by code that uses SSH hosts.
    if name == "SSHHost":
        from deployer.host.ssh import SSHHost
        return SSHHost
    raise AttributeError(name)
