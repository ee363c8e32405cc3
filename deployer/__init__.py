"""deployer: deploy and operate software on fleets of POSIX hosts.

Deployment code is a tree of :class:`deployer.node.Node` classes; actions run on
the hosts mapped to each node's roles, over SSH or locally.
"""
__version__ = "0.1.0"
