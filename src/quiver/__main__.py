"""``python -m quiver``: the ``quiver`` command."""

from quiver.cli import main

if __name__ == "__main__":
    main()
