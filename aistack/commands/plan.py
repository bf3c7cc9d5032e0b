"""``aistack plan``: show what ``up`` would run here, and why."""

from __future__ import annotations

import click

from aistack.output import emit, json_option


@click.command("plan")
@json_option
@click.option("--hardware", "hardware_file", type=click.Path(dir_okay=False),
              help="Plan for a saved profile (from 'aistack probe --json') instead of this machine.")
@click.option("--model", help="Recipe id or alias (see 'aistack models list').")
@click.option("--quant", help="Quantisation, e.g. Q4_K_M, Q8_0, 4bit.")
@click.option("--backend", type=click.Choice(["llama.cpp", "mlx", "ternary"]), help="Serving engine.")
@click.option("--ctx", type=int, help="Context length in tokens.")
@click.option("--runtime", type=click.Choice(["embedded", "docker", "systemd", "launchd"]), help="Supervisor.")
@click.option("--purpose", type=click.Choice(["chat", "code", "reasoning"]), help="What the model is for (default chat).")
@click.option("--host", help="Bind address (default 127.0.0.1; anything else requires an API key).")
@click.option("--port", type=int, help="Port (default 8080).")
def command(as_json: bool, hardware_file: str | None, **flags) -> None:
    """Show what 'aistack up' would run on this machine, and why.

    \b
    Every setting shows where it came from (flag, env, config, default, auto),
    and every alternative the planner rejected shows the numbers that lost.
    """
    from aistack.plan.render import render
    from aistack.plan.run import plan_here

    emit("plan", plan_here(flags, hardware_file), as_json, render)
