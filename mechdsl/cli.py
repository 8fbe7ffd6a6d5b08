"""The `mechdsl` command line: thin commands over the stage functions.

Shared options are defined once (`mechdsl.options`, pip-tools style); each command lives
in its own module (`mechdsl.commands.*`) and is added to `main` here, so the commands
never import the group back.  Any `MechError` becomes ``file:line:col: error: ...`` on
stderr and exit status 2 -- never a traceback.
"""
from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

# Start-up: importing the commands makes tens of thousands of objects (classes, functions,
# the parser's tables) that live as long as the process.  The cyclic collector would walk
# all of them each time its oldest generation is collected, and once more at exit: about a
# fifth of `mechdsl check`'s time.  So it pauses while they are made, and they are frozen
# (left out of every later collection); garbage made afterwards is collected as usual.
_collecting = gc.isenabled()
gc.disable()
try:
    import click

    from mechdsl.commands import COMMANDS
    from mechdsl.options import with_suggestions
finally:
    gc.freeze()
    if _collecting:
        gc.enable()


def _mech_error(err: BaseException) -> bool:
    """Whether `err` is a `MechError`, without importing the compiler to ask (if its errors
    module was never imported, nothing raised one)."""
    errors = sys.modules.get("mechdsl.compiler.errors")
    return errors is not None and isinstance(err, errors.MechError)


class MechGroup(click.Group):
    """A click group that prints user errors without a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, EOFError):
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `mechdsl ... | head`: the reader has gone; stop quietly
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, AttributeError):
                pass
            sys.exit(141)
        except OSError as err:  # a file we were asked to read or write
            where = f"{err.filename}: " if err.filename else ""
            click.echo(f"{where}error: {err.strerror or err}", err=True)
            click.echo("hint: check the path and its permissions", err=True)
            sys.exit(2)
        except Exception as err:  # noqa: BLE001 - only MechError is handled here; the rest re-raised
            if not _mech_error(err):
                raise
            if err.source is None and err.span is not None and err.path:
                try:  # raised past the compiler (e.g. by the evaluator): echo the line all the same
                    err.source = Path(err.path).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError):
                    pass
            click.echo(err.render(), err=True)
            sys.exit(2)


@click.group(cls=MechGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mechdsl")
def main() -> None:
    """mechdsl: author an economic mechanism in a .mech file, compile it, solve it
    exactly when it is small, and learn the designer's optimal policy.

    \b
    Example:
      mechdsl compile specs/paper/allocation.mech
      mechdsl solve specs/paper/spm_messages.mech --json
      mechdsl train specs/paper/allocation.mech --seeds 3
    """


for command in COMMANDS:
    main.add_command(with_suggestions(command))
