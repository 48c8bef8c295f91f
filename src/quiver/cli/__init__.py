"""The ``quiver`` command (console script and ``python -m quiver``), built on click.

``quiver pipeline`` inspects and manages pipelines in a pipelines folder as ``dlt pipeline``
does: ``--list``, ``info``, ``trace``, ``schema``, ``load-package``, ``failed-jobs``,
``drop-pending-packages``, ``sync``, ``drop`` and ``show`` (an HTML page instead of dlt's
dashboard). Errors go to stderr with exit code 1 (2 for a wrong command line, as click does);
nothing secret is printed: destinations are shown by their displayable location.
"""

from __future__ import annotations

import click

import quiver
from quiver.cli.pipeline_command import pipeline

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    quiver.__version__, "--version", prog_name="quiver", message="%(prog)s %(version)s"
)
def cli() -> None:
    """quiver: load Python data into Delta Lake and Iceberg tables, with dlt's API."""


cli.add_command(pipeline)


def main() -> None:
    """Run the ``quiver`` command."""
    cli(prog_name="quiver")
