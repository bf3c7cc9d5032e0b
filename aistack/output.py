"""Rendering results and errors: human text or a ``--json`` envelope.

Command functions return plain values; this module prints them. The JSON
envelope is stable::

    {"ok": true,  "command": "plan", "result": {...}}
    {"ok": false, "command": "up",   "error": {"type": ..., "message": ..., "hint": ..., "exit_code": N}}
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Callable

import click

from aistack.errors import AistackError, ExitCode

_JSON_KEY = "aistack.json"
_DEBUG_KEY = "aistack.debug"


def json_option(fn: Callable) -> Callable:
    """``--json`` flag that also makes errors come out as a JSON envelope."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        ctx.meta[_JSON_KEY] = value
        return value

    return click.option(
        "--json", "as_json", is_flag=True, expose_value=True, callback=remember, is_eager=True,
        help="Print machine-readable JSON.",
    )(fn)


def emit(command: str, result: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        from aistack import values

        payload = {"ok": True, "command": command, "result": values.to_dict(result)}
        click.echo(json.dumps(payload, indent=2))
    else:
        text = human(result)
        if text:
            click.echo(text)


def _command_name(ctx: click.Context | None) -> str:
    if ctx is None:
        return ""
    return ctx.info_name or ""


def run_cli(group: click.Group, argv: list[str] | None) -> int:
    """Invoke the Click group and map outcomes to the exit-code table."""
    ctx_holder: dict[str, click.Context] = {}
    try:
        with group.make_context("aistack", list(sys.argv[1:] if argv is None else argv)) as ctx:
            ctx_holder["root"] = ctx
            group.invoke(ctx)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return int(ExitCode.INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        return int(ExitCode.INTERRUPTED)
    except AistackError as exc:
        root = ctx_holder.get("root")
        meta = root.meta if root else {}
        if meta.get(_DEBUG_KEY):
            traceback.print_exc()
        if meta.get(_JSON_KEY):
            sub = root.invoked_subcommand if root else ""
            click.echo(json.dumps({"ok": False, "command": sub or "", "error": exc.to_dict()}, indent=2))
        else:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
        return int(exc.exit_code)
    except Exception as exc:  # a bug: say so plainly
        root = ctx_holder.get("root")
        if root and root.meta.get(_DEBUG_KEY):
            traceback.print_exc()
        else:
            click.echo(
                f"internal error: {type(exc).__name__}: {exc}\n"
                "This is a bug in aistack. Run again with --debug and report the traceback.",
                err=True,
            )
        return int(ExitCode.INTERNAL)


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()
