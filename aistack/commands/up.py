"""``aistack up``: plan, fetch, install, start and verify the server."""

from __future__ import annotations

import click

from aistack.output import emit, json_option


def _human(r) -> str:
    if r.changed:
        head = f"aistack is serving {r.model_id} ({r.quant}) with {r.backend} ({r.build}) under the {r.supervisor} supervisor."
    else:
        head = f"Already serving {r.model_id} ({r.quant}) under the {r.supervisor} supervisor; nothing changed, nothing restarted."
    lines = [head]
    for note in r.fallbacks:
        lines.append(f"  note:     {note}")
    lines.append(f"  endpoint: {r.endpoint}")
    lines.append(f"  model:    {r.model_id}")
    if r.api_key_file:
        lines.append(f"  api key:  {r.api_key_file}  (send it as 'Authorization: Bearer <key>')")
    lines.append(f"  try:      {r.curl}")
    if r.foreground:
        lines.append("Running in the foreground: press Ctrl-C to stop.")
    else:
        lines.append("  status:   aistack status    logs: aistack logs -f    stop: aistack down")
    return "\n".join(lines)


@click.command("up")
@click.option("--model", help="Recipe id or alias (see 'aistack models list').")
@click.option("--quant", help="Quantisation, e.g. Q4_K_M, Q8_0, 4bit.")
@click.option("--backend", type=click.Choice(["llama.cpp", "mlx", "ternary"]), help="Serving engine.")
@click.option("--ctx", type=int, help="Context length in tokens.")
@click.option("--purpose", type=click.Choice(["chat", "code", "reasoning"]), help="What the model is for (default chat).")
@click.option("--hardware", type=click.Path(dir_okay=False), help="Plan for a saved 'aistack probe --json' profile.")
@click.option("--runtime", type=click.Choice(["embedded", "docker", "systemd"]), help="Which supervisor runs the server.")
@click.option("--host", help="Bind address (default 127.0.0.1; anything else requires an API key, created for you).")
@click.option("--port", type=int, help="Port (default 8080).")
@click.option("--foreground", is_flag=True, help="Supervise in this process until Ctrl-C (containers, debugging).")
@click.option("--wait", "wait_s", type=float, default=5.0, show_default=True, help="Seconds to wait for another aistack operation to finish.")
@json_option
def command(model, quant, backend, ctx, purpose, hardware, runtime, host, port, foreground, wait_s, as_json) -> None:
    """Plan, fetch, install and start the AI server, then check it answers."""
    from aistack import deploy
    from aistack.output import stderr_is_tty

    tty = stderr_is_tty() and not as_json

    def progress(msg: str) -> None:
        if tty:
            click.echo(f"  {msg}", err=True)

    flags = {"model": model, "quant": quant, "backend": backend, "ctx": ctx, "purpose": purpose,
             "runtime": runtime, "host": host, "port": port}
    on_ready = (lambda r: emit("up", r, as_json, _human)) if foreground else None
    result = deploy.up(flags, hardware=hardware, wait_s=wait_s, foreground=foreground, progress=progress,
                       fetch_progress=(lambda _ev: None) if as_json else None, on_ready=on_ready)
    if not foreground:
        emit("up", result, as_json, _human)
