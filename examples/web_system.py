#!/usr/bin/env python
"""The web system of "Architecture of roles and nodes": one ``WebSystem``
definition, applied to a staging and a production set of hosts.

Each role of the system (cache, queue, databases, ...) is a service node; the
roles of ``WebSystem`` are mapped onto the ``host`` role of each service with
``map_roles``. Replace the host definitions by your own machines::

    python examples/web_system.py run
    > cd ProductionSystem Database
    > sandbox start
"""
from deployer.host import SSHHost
from deployer.node import Node, map_roles, required_property
from deployer.utils import esc1


# Host definitions (replace the addresses by your own).
class StagingHost0(SSHHost):
    slug = 'staging0'
    address = 'staging0.example.com'

class LB0(SSHHost):
    slug = 'lb0'
    address = 'lb0.example.com'

class LB1(SSHHost):
    slug = 'lb1'
    address = 'lb1.example.com'

class WebServer1(SSHHost):
    slug = 'web1'
    address = 'web1.example.com'

class WebServer2(SSHHost):
    slug = 'web2'
    address = 'web2.example.com'

class WebServer3(SSHHost):
    slug = 'web3'
    address = 'web3.example.com'

class MasterDB(SSHHost):
    slug = 'master-db'
    address = 'db1.example.com'

class SlaveDB(SSHHost):
    slug = 'slave-db'
    address = 'db2.example.com'

class QueueHost(SSHHost):
    slug = 'queue'
    address = 'queue.example.com'

class CacheHost(SSHHost):
    slug = 'cache'
    address = 'cache.example.com'


class UpstartService(Node):
    """
    Abstraction for any upstart service with start/stop/status methods.
    """
    name = required_property('Name of the service, as known to `service`')

    def start(self):
        self.hosts.sudo('service %s start' % esc1(self.name))

    def stop(self):
        self.hosts.sudo('service %s stop' % esc1(self.name))

    def status(self):
        return self.hosts.sudo('service %s status' % esc1(self.name))


class SystemdService(UpstartService):
    """ The same, for hosts that run systemd. """

    def start(self):
        self.hosts.sudo("systemctl start '%s'" % esc1(self.name))

    def stop(self):
        self.hosts.sudo("systemctl stop '%s'" % esc1(self.name))

    def status(self):
        return self.hosts.sudo("systemctl status '%s'" % esc1(self.name))


class WebSystem(Node):
    """
    The base definition of our web system.

    roles: load_balancer, web, master_db, slave_db, queue, cache.
    """
    @map_roles(host='cache')
    class Cache(UpstartService):
        name = 'redis'

    @map_roles(host='queue')
    class Queue(UpstartService):
        name = 'rabbitmq'

    @map_roles(host='load_balancer')
    class LoadBalancer(SystemdService):
        name = 'haproxy'

    @map_roles(master='master_db', slave='slave_db')
    class Database(SystemdService):
        name = 'postgresql'

    @map_roles(host=['web', 'load_balancer', 'queue'])
    class Git(Node):
        def checkout(self, commit):
            self.hosts.run("git checkout '%s'" % esc1(commit))

        def show(self):
            self.hosts.run('git show')

    def restart_all(self):
        """ Restart every service, back-ends first. """
        for service in (self.Database, self.Cache, self.Queue, self.LoadBalancer):
            service.stop()
            service.start()


class RootNode(Node):
    """
    The root node of our configuration, containing two 'instances' of
    `WebSystem`,
    """
    class StagingSystem(WebSystem):
        class Hosts:
            load_balancer = { StagingHost0 }
            web = { StagingHost0 }
            master_db = { StagingHost0 }
            slave_db = set()  # If empty, this line can be left away.
            queue = { StagingHost0 }
            cache = { StagingHost0 }

    class ProductionSystem(WebSystem):
        class Hosts:
            load_balancer = { LB0, LB1 }
            web = { WebServer1, WebServer2, WebServer3 }
            master_db = { MasterDB }
            slave_db = { SlaveDB }
            queue = { QueueHost }
            cache = { CacheHost }


if __name__ == '__main__':
    from deployer.client import start
    start(RootNode)
