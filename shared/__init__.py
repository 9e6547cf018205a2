"""modelfleet: track experiments, register models, deploy and monitor them on servers you own."""

from modelfleet._version import __version__

__all__ = ["__version__"]
