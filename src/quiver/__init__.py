"""quiver."""
