"""The command-line shell: parse, call one core function, render.

Subcommands live one per module in ``aistack/commands/`` and are imported only
when invoked, so ``aistack --help`` stays fast. Errors from the core are
``AistackError``s; ``main`` maps them to the exit-code table in
``aistack.errors`` and prints a traceback only with ``--debug``.
"""

from __future__ import annotations

import importlib
import sys

import click

from aistack import __version__

# name -> (module, one-line help). The help text lives here so that
# `aistack --help` does not import every command module.
COMMANDS: dict[str, tuple[str, str]] = {
    "probe": ("aistack.commands.probe", "Show what hardware this machine has."),
    "plan": ("aistack.commands.plan", "Show what 'up' would run here, and why."),
    "up": ("aistack.commands.up", "Plan, fetch, install and start the AI server."),
    "down": ("aistack.commands.down", "Stop the server and remove what 'up' deployed."),
    "status": ("aistack.commands.status", "Show the deployment, its health and speed."),
    "logs": ("aistack.commands.logs", "Show (or follow) the server's log."),
    "models": ("aistack.commands.models", "List, pull and remove model files."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aistack")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn this machine into a private, OpenAI-compatible AI server.

    \b
    Start here:  aistack up
    Look first:  aistack probe   then   aistack plan
    """
    ctx.meta["aistack.debug"] = debug


def main(argv: list[str] | None = None) -> None:
    from aistack.output import run_cli

    sys.exit(run_cli(cli, argv))


if __name__ == "__main__":
    main()
