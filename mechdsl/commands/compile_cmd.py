"""`mechdsl compile` and `mechdsl check`."""
from __future__ import annotations

from typing import Optional

import click

from mechdsl.options import load_ir, output_option, spec_argument, write_or_echo


@click.command("compile")
@spec_argument
@click.option("--format", "fmt", type=click.Choice(["summary", "json", "dot"]), default="summary", show_default=True)
@output_option
def compile_command(spec: str, sets: tuple[str, ...], fmt: str, output: Optional[str]) -> None:
    """Compile SPEC into the game-tree IR and show it.

    \b
    Examples:
      mechdsl compile specs/paper/spm_messages.mech
      mechdsl compile specs/paper/allocation.mech --set messages=2 --format json -o alloc.json
      mechdsl compile specs/paper/maintain.mech --format dot | dot -Tpng > maintain.png
    """
    ir = load_ir(spec, sets)
    if fmt == "json":
        text = ir.to_json(indent=1)
    elif fmt == "dot":
        from mechdsl.compiler.drawing import collapsed_graph, to_dot
        from mechdsl.compiler.tree import game_tree

        graph = game_tree(ir, max_nodes=2000)
        text = to_dot(graph if graph is not None else collapsed_graph(ir))
    else:
        from mechdsl.compiler.summary import summary

        text = summary(ir)
    write_or_echo(text, output)


@click.command("check")
@spec_argument
def check_command(spec: str, sets: tuple[str, ...]) -> None:
    """Validate SPEC (syntax, names, probabilities, types) without printing the IR.

    \b
    Example:
      mechdsl check specs/examples/posted_price.mech && echo ok
    """
    from mechdsl.compiler.summary import plural

    ir = load_ir(spec, sets)
    click.echo(f"{spec}: ok ({plural(ir.n_followers, 'follower')}, "
               f"{plural(ir.n_infosets, 'leader information set')})")
