"""Destinations quiver can load into."""

from quiver.destinations.filesystem import FilesystemDestination, filesystem

__all__ = ["FilesystemDestination", "filesystem"]
