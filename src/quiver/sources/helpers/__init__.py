"""``quiver.sources.helpers``: dlt's ``dlt.sources.helpers`` import paths."""
