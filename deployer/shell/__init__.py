"""The interactive shell, its SCP shell and the shell servers.

* :class:`deployer.shell.shell.Shell`: navigate a node tree, run actions.
* :class:`deployer.shell.scp.ScpShell`: copy files to and from one host.
* :mod:`deployer.shell.server`: Twisted servers (unix socket, telnet).
* :mod:`deployer.shell.socket_client`: the ``connect`` client.

Start it all through :func:`deployer.client.start`. See docs/shell.md.
"""
from deployer.shell.shell import Shell

__all__ = ["Shell"]
