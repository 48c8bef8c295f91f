"""``quiver.common.libs``: open a pipeline's tables with the engines' own objects."""
