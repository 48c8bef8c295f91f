"""``quiver pipeline``: inspect and manage the pipelines of a pipelines folder (``dlt pipeline``).

Each command attaches to the pipeline's working folder (``quiver.attach``) and prints what dlt's
command prints, in dlt's words where they exist. Messages meant for people, warnings and errors
go to stderr when stdout carries a document (``schema``).
"""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from quiver.errors import QuiverError
from quiver.pipeline.factory import attach, default_pipelines_dir
from quiver.pipeline.local_state import read_state
from quiver.pipeline.pipeline import Pipeline
from quiver.schema.yaml_io import to_yaml

_F = TypeVar("_F", bound=Callable[..., Any])


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def _reports_errors(command: _F) -> _F:
    """Print a QuiverError as one message on stderr and exit with code 1 (no traceback)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except QuiverError as error:
            _fail(str(error))

    return wrapper  # type: ignore[return-value]


def _list_pipelines(pipelines_dir: str) -> None:
    folder = Path(pipelines_dir)
    found = [
        (child.name, (child / "state.json").stat().st_mtime)
        for child in (sorted(folder.iterdir()) if folder.is_dir() else [])
        if child.is_dir() and read_state(child) is not None
    ]
    if not found:
        click.echo(f"No pipelines found in {pipelines_dir}")
        return
    click.echo(f"{len(found)} pipeline(s) found in {pipelines_dir}")
    for name, modified in sorted(found, key=lambda item: -item[1]):
        when = datetime.datetime.fromtimestamp(modified).astimezone().isoformat(" ", "seconds")
        click.echo(f"{click.style(name, fg='green')} (last run: {when})")


class _Context:
    """What ``quiver pipeline [options] <name>`` gives its sub-commands."""

    def __init__(self, name: str, pipelines_dir: str, verbosity: int) -> None:
        self.name = name
        self.pipelines_dir = pipelines_dir
        self.verbosity = verbosity

    def exists(self) -> bool:
        return read_state(Path(self.pipelines_dir) / self.name) is not None

    def attach(self) -> Pipeline:
        """The pipeline from its working folder; exit 1 if there is none."""
        if not self.exists():
            _fail(
                f"Pipeline {self.name!r} was not found in {self.pipelines_dir}. Hint: list the "
                "pipelines with 'quiver pipeline --list', pass --pipelines-dir, or restore it "
                f"from its dataset with 'quiver pipeline {self.name} sync --bucket-url URL'."
            )
        pipeline = attach(self.name, pipelines_dir=self.pipelines_dir)
        click.echo(f"Found pipeline {self.name} in {self.pipelines_dir}", err=True)
        return pipeline


_pass_context = click.make_pass_decorator(_Context)
_verbose = click.option("-v", "--verbose", "verbose", count=True, help="Show more.")


@click.group(invoke_without_command=True)
@click.option(
    "-l", "--list", "--list-pipelines", "list_pipelines", is_flag=True, help="List pipelines."
)
@click.option(
    "--pipelines-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of the pipelines' working folders (default: ~/.quiver/pipelines).",
)
@_verbose
@click.argument("name", required=False)
@click.pass_context
def pipeline(
    ctx: click.Context,
    list_pipelines: bool,
    pipelines_dir: str | None,
    verbose: int,
    name: str | None,
) -> None:
    """Inspect and manage the pipeline NAME (or list pipelines with --list)."""
    folder = pipelines_dir or default_pipelines_dir()
    if list_pipelines or (name is None and ctx.invoked_subcommand is None):
        _list_pipelines(folder)
        return
    if name is None:
        raise click.UsageError("Give the pipeline's name before the command.")
    if ctx.invoked_subcommand is None:
        raise click.UsageError(
            "Missing command. Hint: 'quiver pipeline NAME info' (see --help for all)."
        )
    ctx.obj = _Context(name, folder, verbose)


def _verbosity(context: _Context, verbose: int) -> int:
    return context.verbosity + verbose


# --------------------------------------------------------------------------- info
@pipeline.command()
@_verbose
@_pass_context
@_reports_errors
def info(context: _Context, verbose: int) -> None:
    """The pipeline's state, resources, tables and packages."""
    verbosity = _verbosity(context, verbose)
    p = context.attach()
    state: dict[str, Any] = dict(p.state)
    destination = p.destination.displayable_location() if p.destination else "not set"
    click.echo(f"destination: {destination}")
    click.echo(f"dataset_name: {p.dataset_name}")
    click.echo("Synchronized state:")
    for key, value in state.items():
        if not isinstance(value, dict) and key != "_local":
            click.echo(f"{click.style(key, fg='green')}: {value}")
    sources = state.get("sources") or {}
    if sources:
        click.echo()
        click.secho("sources:", fg="green")
        if verbosity > 0:
            click.echo(json.dumps(sources, indent=2, default=str))
        else:
            click.echo("Add -v option to see sources state. Note that it could be large.")
    click.echo()
    click.echo("Local state:")
    for key, value in (state.get("_local") or {}).items():
        if not isinstance(value, dict):
            click.echo(f"{click.style(key, fg='green')}: {value}")
    click.echo()
    for schema_name, schema in p.schemas.items():
        click.echo(f"Resources in schema: {schema_name}")
        by_resource: dict[str, list[dict[str, Any]]] = {}
        for table in schema.data_tables():
            root = schema.root_table(table["name"])
            by_resource.setdefault(str(root.get("resource") or root["name"]), []).append(table)
        source_state = sources.get(schema_name) or {}
        for resource, tables in by_resource.items():
            slots = len((source_state.get("resources") or {}).get(resource) or {})
            click.echo(
                f"{click.style(resource, bold=True)} with {len(tables)} table(s) and {slots} "
                "resource state slot(s)"
            )
            if verbosity > 0:
                for table in tables:
                    seen = (
                        "not yet received data"
                        if schema.is_new_table(table["name"])
                        else ("received data")
                    )
                    columns = len(table.get("columns") or {})
                    click.echo(f"\t{table['name']} table {columns} column(s) {seen}")
    click.echo()
    click.echo("Working dir content:")
    _show_pending(p)
    loaded = p.list_completed_load_packages()
    if loaded:
        click.echo(f"Has {len(loaded)} completed load packages with following load ids:")
        for load_id in loaded:
            click.echo(load_id)
        click.echo()
    trace = getattr(p, "last_trace", None)
    if trace is None or not getattr(trace, "steps", None):
        click.echo("Pipeline does not have last run trace.")
    else:
        click.echo(
            f"Pipeline has last run trace. Use 'quiver pipeline {p.pipeline_name} trace' to inspect"
        )


def _show_pending(p: Pipeline) -> tuple[list[str], list[str]]:
    extracted = p.list_extracted_load_packages()
    if extracted:
        click.echo(
            f"Has {len(extracted)} extracted packages ready to be normalized with following "
            "load ids:"
        )
        for load_id in extracted:
            click.echo(load_id)
    normalized = p.list_normalized_load_packages()
    if normalized:
        click.echo(
            f"Has {len(normalized)} normalized packages ready to be loaded with following load ids:"
        )
        for load_id in normalized:
            click.echo(load_id)
    return extracted, normalized


# -------------------------------------------------------------------------- trace
@pipeline.command()
@_verbose
@_pass_context
@_reports_errors
def trace(context: _Context, verbose: int) -> None:
    """The trace of the last run: steps, timings, row counts, packages and errors."""
    p = context.attach()
    last = getattr(p, "last_trace", None)
    if last is None or not getattr(last, "steps", None):
        click.echo("Pipeline does not have last run trace.", err=True)
        return
    click.echo(last.asstr(_verbosity(context, verbose)))


# ------------------------------------------------------------------------- schema
@pipeline.command()
@click.option(
    "--format",
    "format_",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Document format.",
)
@click.option(
    "--remove-defaults/--keep-defaults",
    default=True,
    show_default=True,
    help="Leave out hints that have their default value (YAML only).",
)
@_pass_context
@_reports_errors
def schema(context: _Context, format_: str, remove_defaults: bool) -> None:
    """The default schema as YAML or JSON (on stdout, alone, so it can be piped)."""
    p = context.attach()
    if not p.schema_names:
        _fail(f"Pipeline {p.pipeline_name!r} does not have a default schema yet. Hint: run it.")
    default = p.default_schema
    click.echo(f"Found schema with name {default.name}", err=True)
    if format_ == "json":
        click.echo(json.dumps(default.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(to_yaml(default.to_dict(), remove_defaults=remove_defaults), nl=False)


# ------------------------------------------------------------------- load-package
@pipeline.command("load-package")
@click.argument("load_id", required=False)
@_verbose
@_pass_context
@_reports_errors
def load_package(context: _Context, load_id: str | None, verbose: int) -> None:
    """The load package LOAD_ID (default: the newest) with its jobs."""
    p = context.attach()
    if not load_id:
        candidates = (
            p.list_extracted_load_packages()
            or p.list_normalized_load_packages()
            or p.list_completed_load_packages()
        )
        if not candidates:
            _fail(f"There are no load packages for pipeline {p.pipeline_name!r}.")
        load_id = sorted(candidates)[-1]
    package = p.get_load_package_info(load_id)
    click.echo(f"Package {load_id} found in {package.package_path}")
    click.echo(package.asstr(_verbosity(context, verbose)))


# -------------------------------------------------------------------- failed-jobs
@pipeline.command("failed-jobs")
@_verbose
@_pass_context
@_reports_errors
def failed_jobs(context: _Context, verbose: int) -> None:
    """The failed jobs of every loaded and normalized package, with their errors."""
    verbosity = _verbosity(context, verbose)
    p = context.attach()
    for load_id in p.list_completed_load_packages() + p.list_normalized_load_packages():
        click.echo(f"Checking failed jobs in load id '{load_id}'")
        failed = p.list_failed_jobs_in_package(load_id)
        if not failed:
            click.echo("No failed jobs found")
        for job in failed:
            info = job.job_file_info
            click.echo(f"JOB: {info.job_id()}({info.table_name})")
            click.echo(f"JOB file type: {info.file_format}")
            click.echo(f"JOB file path: {job.file_path}")
            if verbosity > 0:
                click.echo(job.asstr(verbosity))
            click.secho(str(job.failed_message), fg="red")
            click.echo()


# ---------------------------------------------------------- drop-pending-packages
_yes = click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")


@pipeline.command("drop-pending-packages")
@_yes
@_pass_context
@_reports_errors
def drop_pending_packages(context: _Context, yes: bool) -> None:
    """Delete the extracted and normalized packages (their data is never loaded)."""
    p = context.attach()
    extracted, normalized = _show_pending(p)
    if not extracted and not normalized:
        click.echo("No pending packages found")
        return
    if yes or click.confirm("Delete the above packages?", default=False):
        p.drop_pending_packages()
        click.echo("Pending packages deleted")


# --------------------------------------------------------------------------- sync
@pipeline.command()
@_yes
@click.option("--bucket-url", default=None, help="Restore from this bucket (no local folder).")
@click.option("--dataset-name", default=None, help="Restore from this dataset.")
@_pass_context
@_reports_errors
def sync(context: _Context, yes: bool, bucket_url: str | None, dataset_name: str | None) -> None:
    """Drop the local state and schemas and restore them from the destination's dataset."""
    if not context.exists():
        import quiver

        destination = quiver.destinations.filesystem(bucket_url=bucket_url) if bucket_url else None
        p = attach(
            context.name,
            pipelines_dir=context.pipelines_dir,
            destination=destination,
            dataset_name=dataset_name,
        )
        click.echo(f"Restored pipeline {p.pipeline_name} from dataset {p.dataset_name}")
        return
    p = context.attach()
    if not hasattr(p, "sync_destination"):
        _fail("this version of quiver cannot restore a pipeline from its destination.")
    if not yes and not click.confirm(
        "About to drop the local state of the pipeline and reset all the schemas. The "
        "destination state, data and schemas are left intact. Proceed?",
        default=False,
    ):
        return
    click.echo("Dropping local state")
    p.drop()
    click.echo("Restoring from destination")
    p.sync_destination()
    if p.first_run:
        _fail(
            f"Pipeline {p.pipeline_name!r} was not found in dataset {p.dataset_name!r} in "
            f"{p.destination.displayable_location() if p.destination else 'no destination'}."
        )
    click.echo(f"Restored state and schemas: {', '.join(p.schema_names) or 'none'}")


# --------------------------------------------------------------------------- drop
@pipeline.command()
@click.argument("resources", nargs=-1)
@click.option("--drop-all", is_flag=True, help="Drop every resource of the schema.")
@click.option("--state-paths", multiple=True, help="State paths (JSON path) to reset.")
@click.option("--schema", "schema_name", default=None, help="The schema (default: default).")
@click.option("--state-only", is_flag=True, help="Only reset state, keep the tables.")
@_yes
@_pass_context
@_reports_errors
def drop(
    context: _Context,
    resources: tuple[str, ...],
    drop_all: bool,
    state_paths: tuple[str, ...],
    schema_name: str | None,
    state_only: bool,
    yes: bool,
) -> None:
    """Drop the tables and state of RESOURCES (names or re:regex) from the destination."""
    p = context.attach()
    helpers = _drop_helper()
    if helpers is None:
        _fail(
            "dropping resources is not available in this version of quiver (no "
            "quiver.pipeline.helpers.drop). Hint: run the source with "
            "refresh='drop_resources' to drop and reload the tables of the resources it "
            "extracts, or write_disposition='replace' to reload a table in full."
        )
    plan = helpers(
        p,
        resources=list(resources),
        state_paths=list(state_paths),
        schema_name=schema_name,
        drop_all=drop_all,
        state_only=state_only,
    )
    click.echo(f"About to drop the following data in dataset {p.dataset_name}:")
    for key, value in (getattr(plan, "info", None) or {}).items():
        click.echo(f"{click.style(str(key), fg='green')}: {value}")
    if yes or click.confirm("Do you want to apply these changes?", default=False):
        plan()


def _drop_helper() -> Callable[..., Any] | None:
    """dlt's ``DropCommand`` (``quiver.pipeline.helpers``): a plan with ``.info``, applied when
    called (``helpers.drop`` itself applies at once, as dlt's does, so it cannot ask first)."""
    try:
        module = importlib.import_module("quiver.pipeline.helpers")
    except ImportError:
        return None
    found = getattr(module, "DropCommand", None)
    return found if callable(found) else None


# --------------------------------------------------------------------------- show
@pipeline.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the page (default: <working folder>/<name>.html).",
)
@_pass_context
@_reports_errors
def show(context: _Context, output: str | None) -> None:
    """Write a self-contained HTML page of the pipeline and print its path."""
    p = context.attach()
    click.echo(p.show(output))
