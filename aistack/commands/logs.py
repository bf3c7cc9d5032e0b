"""``aistack logs``: the server's log, optionally followed."""

from __future__ import annotations

import click


@click.command("logs")
@click.option("-n", "--lines", type=int, default=50, show_default=True, help="How many of the last lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until Ctrl-C.")
def command(lines, follow) -> None:
    """Show (or follow) the server's log."""
    from aistack import deploy

    try:
        for line in deploy.logs(lines=lines, follow=follow):
            click.echo(line)
    except KeyboardInterrupt:
        pass
