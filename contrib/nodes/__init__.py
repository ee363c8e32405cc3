"""Generic nodes: ``deployer.contrib.nodes``."""
