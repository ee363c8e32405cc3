#!/usr/bin/env python
"""The hello-world tutorial: one action, on the local machine and on an SSH host.

    python examples/hello_world.py run            # interactive shell
    python examples/hello_world.py run hello      # run `hello` on LocalHost and exit

``RootNode`` groups a local and a remote ``SayHello``
(``deployer run examples/hello_world.py:RootNode``); change ``MyRemoteHost``
to your own credentials first.
"""
from deployer.client import start
from deployer.host import LocalHost, SSHHost
from deployer.node import Node


# Host definitions
class MyRemoteHost(SSHHost):
    slug = 'my-host'
    address = '192.168.0.200'
    username = 'john'
    password = '...'


# The deployment nodes

class SayHello(Node):
    def hello(self):
        self.hosts.run('echo hello world')


class SayHelloOnLocalHost(SayHello):
    class Hosts:
        host = LocalHost


class RemoteHello(SayHello):
    class Hosts:
        host = MyRemoteHost


class RootNode(Node):
    class local_hello(SayHello):
        class Hosts:
            host = LocalHost

    class remote_hello(SayHello):
        class Hosts:
            host = MyRemoteHost


if __name__ == '__main__':
    start(SayHelloOnLocalHost)
