"""``aistack status``: what is deployed, whether it answers, how fast."""

from __future__ import annotations

import click

from aistack.output import emit, json_option


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + (f"{h}h " if h or d else "") + f"{m}m {s}s"


def _human(r) -> str:
    rows = [
        ("deployment", f"{r.deployment_id} ({r.supervisor} supervisor)"),
        ("model", f"{r.model_id} ({r.quant}) on {r.backend} ({r.build})"),
        ("endpoint", r.endpoint),
        ("health", r.health),
        ("process", f"pid {r.pid}, up {_duration(r.uptime_s)}" if r.running else f"not running ({r.detail})"),
        ("restarts", str(r.restarts)),
    ]
    if r.decode_tps:
        rows.append(("speed", f"{r.decode_tps:.1f} tokens/s decode, {r.prompt_tps or 0:.1f} tokens/s prompt"))
    elif r.decode_tps is not None:
        rows.append(("speed", "no requests served yet"))
    if r.api_key_file:
        rows.append(("api key", r.api_key_file))
    if r.log_file:
        rows.append(("log", r.log_file))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


@click.command("status")
@json_option
def command(as_json) -> None:
    """Show the deployment, its health and speed."""
    from aistack import deploy

    emit("status", deploy.status(), as_json, _human)
