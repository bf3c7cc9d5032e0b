"""``aistack down``: stop the server and forget the deployment."""

from __future__ import annotations

import click

from aistack.output import emit, json_option


def _human(r) -> str:
    if not r.stopped:
        return "Nothing is deployed; nothing to stop."
    return f"Stopped deployment {r.deployment_id} ({r.supervisor}); {r.endpoint} no longer serves."


@click.command("down")
@click.option("--wait", "wait_s", type=float, default=5.0, show_default=True, help="Seconds to wait for another aistack operation to finish.")
@json_option
def command(wait_s, as_json) -> None:
    """Stop the server and remove what 'up' deployed."""
    from aistack import deploy

    emit("down", deploy.down(wait_s=wait_s), as_json, _human)
