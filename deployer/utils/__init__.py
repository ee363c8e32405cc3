"""Utilities: escaping for shell commands and parsing of network settings."""
from deployer.utils.string_utils import esc1, esc2, indent

__all__ = ["esc1", "esc2", "indent", "parse_ifconfig_output", "IfConfig", "NetworkInterface"]


def __getattr__(name: str):
    # network parsing is imported lazily to keep start-up of the shell cheap.
    if name in ("parse_ifconfig_output", "IfConfig", "NetworkInterface"):
        from deployer.utils import network
        return getattr(network, name)
    raise AttributeError(name)
