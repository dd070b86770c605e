"""The ``gdlab`` command line (typer + rich): one module per command.

Errors that are the user's to fix (bad flags, bad data, bad settings) print one
line and exit with code 2; ``--debug`` shows the traceback instead. Each command
module registers itself on :data:`app`; heavy imports happen inside commands so
``gdlab --help`` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from gdlab import __version__

app = typer.Typer(
    name="gdlab",
    help="gdlab, the gradient descent lab: train many small dense networks at once and see "
         "how learning rate, batch size, optimizer and initialization change training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Options several commands share, declared once.
DataOption = Annotated[str, typer.Option(help="Dataset: a built-in name or a .csv/.parquet file.")]
TargetOption = Annotated[str | None, typer.Option(help="Target column of a data file.")]

_DEBUG = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gdlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    global _DEBUG
    _DEBUG = debug


def _register_commands() -> None:
    import gdlab.cli.diagnostics  # noqa: F401
    import gdlab.cli.explore  # noqa: F401
    import gdlab.cli.search  # noqa: F401
    import gdlab.cli.study  # noqa: F401


def main() -> None:
    """Entry point: run the app, turning gdlab's errors into one line and exit code 2."""
    import warnings

    from gdlab import interrupts
    from gdlab.pitfalls import GdlabWarning

    _register_commands()
    # Ctrl-C and SIGTERM stop a run at the next epoch boundary: finished work is kept and
    # the run can be resumed. Both settings are undone on the way out (main may run inside
    # another program, such as the test suite).
    previous = interrupts.install()
    try:
        with warnings.catch_warnings():
            # Commands print gdlab's warnings themselves, once each, in a readable block.
            warnings.simplefilter("ignore", GdlabWarning)
            _main()
    finally:
        interrupts.restore(previous)


def _main() -> None:
    from gdlab.errors import GdlabError

    try:
        code = app(standalone_mode=False)  # an Exit inside a command comes back as its code
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        sys.exit(130)
    except (GdlabError, FileNotFoundError, IsADirectoryError, PermissionError) as e:
        if _DEBUG:
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except typer.TyperException as e:  # usage errors: bad flags or values
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if message:  # empty after `gdlab` alone, which has printed the help
            print(f"error: {message} (see --help)", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))
    except Exception as e:
        if _DEBUG:
            raise
        print(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        sys.exit(1)
