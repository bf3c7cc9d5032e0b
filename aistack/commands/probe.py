"""``aistack probe [--json] [--hardware FILE]``: show what hardware this machine has."""

from __future__ import annotations

import click

from aistack.output import emit, json_option


@click.command("probe")
@json_option
@click.option("--hardware", "hardware_file", type=click.Path(dir_okay=False),
              help="Show a saved profile (from 'aistack probe --json') instead of probing.")
def command(as_json: bool, hardware_file: str | None) -> None:
    """Show what hardware this machine has (CPU, RAM, GPUs, Docker, init system).

    \b
    Save it for planning elsewhere:  aistack probe --json > profile.json
    Plan for that machine:           aistack plan --hardware profile.json
    """
    from aistack.hardware.summary import get_profile, render

    profile = get_profile(hardware_file)
    emit("probe", profile, as_json, render)
