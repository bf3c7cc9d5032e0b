"""``aistack models pull``: a recipe id or a URI -> an ``ArtifactRef`` -> a fetched file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from aistack.errors import FetchError, UsageError
from aistack.plan.model import ArtifactRef
from aistack.store.progress import ProgressFn

# the quantisation pulled when a recipe offers several and none was asked for
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1")


@dataclass(frozen=True)
class Pulled:
    name: str
    uri: str
    path: str
    location: str  # "store", "hf-cache", "package", "file"
    size_bytes: int
    sha256: str | None
    already_present: bool
    recipe_id: str | None = None
    quant: str | None = None


def resolve(spec: str, quant: str | None = None) -> tuple[ArtifactRef, str | None, str | None]:
    """(ref, recipe id, quant) for a recipe id/alias or a URI.

    A URI that a recipe lists picks up the recipe's size and sha256.
    """
    from aistack.catalog import load_catalog

    catalog = load_catalog()
    if "://" in spec:
        hit = catalog.artifact(spec)
        if hit:
            recipe, a = hit
            return (ArtifactRef(kind=a.kind, uri=a.uri, filename=a.filename, size_bytes=a.size_bytes,
                                sha256=a.sha256), recipe.id, a.quant)
        name = PurePosixPath(spec.split("?", 1)[0]).name
        return ArtifactRef(kind="gguf", uri=spec, filename=name), None, quant
    recipe = catalog.get(spec)
    files = [a for a in recipe.artifacts if a.kind in ("gguf", "ternary-gguf")]
    if not files:
        raise FetchError(
            f"{recipe.id} has no GGUF file to pull (its artifacts: "
            f"{', '.join(a.kind for a in recipe.artifacts) or 'none'}).",
            details={"reason": "unsupported", "recipe": recipe.id},
        )
    quants = [a.quant for a in files]
    if quant:
        chosen = [a for a in files if a.quant.lower() == quant.lower()]
        if not chosen:
            raise UsageError(f"{recipe.id} has no {quant} file; it has {', '.join(quants)}.",
                             hint=f"aistack models pull {recipe.id} --quant {quants[0]}")
        a = chosen[0]
    elif len(files) == 1:
        a = files[0]
    else:
        pick = next((q for q in DEFAULT_QUANTS if q in quants), None)
        if pick is None:
            raise UsageError(f"{recipe.id} comes in {', '.join(quants)}: choose one with --quant.",
                             hint=f"aistack models pull {recipe.id} --quant {quants[0]}")
        a = files[quants.index(pick)]
    ref = ArtifactRef(kind=a.kind, uri=a.uri, filename=a.filename, size_bytes=a.size_bytes, sha256=a.sha256)
    return ref, recipe.id, a.quant


def pull(spec: str, quant: str | None = None, *, progress: ProgressFn | None = None) -> Pulled:
    from aistack import store
    from aistack.store import index

    ref, recipe_id, q = resolve(spec, quant)
    present = store.locate(ref) is not None
    path = store.fetch(ref, progress=progress)
    rows = {r.path: r for r in index.rows()}
    row = rows.get(str(path))
    return Pulled(
        name=row.name if row else path.name,
        uri=ref.uri,
        path=str(path),
        location=row.location if row else "store",
        size_bytes=path.stat().st_size,
        sha256=row.sha256 if row else None,
        already_present=present,
        recipe_id=recipe_id,
        quant=q,
    )
