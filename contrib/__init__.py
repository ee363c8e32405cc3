"""Reusable nodes shipped with deployer (importable as ``deployer.contrib``)."""
