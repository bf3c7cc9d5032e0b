"""The planner: ``make_plan(profile, catalog, request) -> Plan``. Pure.

No file, network, clock or environment access: everything it knows comes in
through its arguments, so a plan can be made for any recorded machine.

Policy
======
1. Candidates: every recipe serving the purpose (or the one requested) x every
   artifact (quantisation) x every target the machine offers whose artifact
   kind matches (GGUF -> llama.cpp builds, MLX -> mlx, ternary GGUF -> bitnet).
   Artifacts listed in ``unavailable`` (fetch failed) are skipped.
2. Fit: for each candidate the memory model (aistack.memory.estimate) predicts
   bytes per device; a candidate fits only if every device stays within its
   capacity (after the margins in aistack.plan.targets). Context: the largest
   of cap, cap/2, ... down to 2048 that fits, where cap = min(trained context,
   32768 / 16384 / 8192 / 4096 by device capacity >= 40 / 12 / 4 / else GiB).
   KV cache f16; q8_0 only when f16 cannot hold 8192 tokens (a useful context).
   GPU targets: full offload first; else layer-granular partial offload, kept
   only when its predicted speed beats the CPU-only speed by 10 %.
3. Rank fitting candidates by
   ``quality(model, purpose) - penalty(quant) - ctx_penalty + target_bonus``
   where ctx_penalty = 2 per halving below 8192 tokens and target_bonus = 2
   for MLX (the native Apple Silicon path) and 8 for the ternary CPU path
   (bitnet.cpp: lossless for natively ternary weights and light on compute,
   so on a machine without a usable GPU it wins unless a clearly better model
   fits); ties go to the faster one.
   Full GPU offload is preferred: the best full-offload candidate wins unless
   another is more than FULL_OFFLOAD_PREFERENCE (15) points better.
   Candidates predicted below 8 tokens/s are used only when nothing reaches it
   (then the fastest wins). An explicit --model/--quant/--backend/--ctx is
   obeyed or refused with the numbers (UnsatisfiableError), never bent.
4. A draft model (recipe ``draft``) is paired on full-GPU llama.cpp plans when
   it fits in what is left on the main GPU.
5. Supervisor from the profile's host facts (see ``choose_supervisor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from aistack.catalog.model import Artifact, Catalog, Recipe
from aistack.errors import UnsatisfiableError
from aistack.hardware.profile import HardwareProfile
from aistack.memory import estimate as est
from aistack.plan.model import (
    Alternative,
    ArtifactRef,
    DeviceMemory,
    Plan,
    Request,
    RuntimeParams,
    Setting,
)
from aistack.plan.speed import MIN_TPS, WORKING_CTX, decode_tps
from aistack.plan.targets import Device, Target, targets

if TYPE_CHECKING:  # pragma: no cover
    from aistack.gguf import GgufHeader

GiB = 1024**3
MIN_CTX = 2048
USEFUL_CTX = 8192
FULL_OFFLOAD_PREFERENCE = 15.0  # a full-GPU plan wins unless another is this many points better
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _gib(n: float) -> str:
    return f"{n / GiB:.1f} GiB"


def ctx_cap(capacity_bytes: int) -> int:
    if capacity_bytes >= 40 * GiB:
        return 32768
    if capacity_bytes >= 12 * GiB:
        return 16384
    if capacity_bytes >= 4 * GiB:
        return 8192
    return 4096


@dataclass
class Candidate:
    recipe: Recipe
    artifact: Artifact
    target: Target
    fits: bool = False
    reason: str = ""
    ctx: int = 0
    cache_type: str = "f16"
    n_gpu_layers: int = 0
    memory: tuple[est.DeviceBytes, ...] = ()
    tps: float | None = None
    score: float = 0.0
    offload: str = "none"  # "full", "partial", "none"
    weights: est.Weights | None = None
    shares: tuple[float, ...] = ()
    needs: list[str] = field(default_factory=list)  # "gpu0 needs X, Y usable" for error messages

    @property
    def label(self) -> str:
        return f"{self.recipe.id} {self.artifact.quant} on {self.target.name}"


# --- memory per candidate ---------------------------------------------------------


def _capacities(t: Target) -> dict[str, Device]:
    d = {t.host.name: t.host}
    d.update({g.name: g for g in t.gpus})
    return d


def _over(mem: tuple[est.DeviceBytes, ...], caps: Mapping[str, Device]) -> list[str]:
    return [
        f"{m.device} needs {_gib(m.total_bytes)}, {_gib(caps[m.device].capacity_bytes)} usable"
        for m in mem
        if m.total_bytes > caps[m.device].capacity_bytes
    ]


def _memory(c: Candidate, ctx: int, cache: str, ngl: int, ubatch: int, fa: bool) -> tuple[est.DeviceBytes, ...]:
    t, a, w = c.target, c.recipe.arch, c.weights
    assert w is not None
    if t.backend == "mlx":
        return (_mlx_memory(w, a, ctx),)
    gpu_kind = t.gpus[0].kind if t.gpus else ("metal" if t.unified else None)
    shares = c.shares or (1.0,)
    parts = est.split_llamacpp(w, a, n_ctx=ctx, n_gpu_layers=ngl if gpu_kind else 0, gpu_kind=gpu_kind,
                               type_k=cache, type_v=cache, ubatch=ubatch, flash_attn=fa, gpu_shares=shares)
    if t.unified:  # Metal: host and GPU share one pool
        tot = est.DeviceBytes("unified", *(sum(getattr(p, f) for p in parts) for f in
                                           ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes")))
        return (tot,)
    return parts


def _mlx_memory(w: est.Weights, arch, ctx: int) -> est.DeviceBytes:
    # mlx-lm caches full per-head K/V even for MLA models: estimate without MLA.
    from dataclasses import replace

    plain = replace(arch, kv_lora_rank=None, rope_head_dim=None) if arch.is_mla else arch
    return est.unified_mlx(w, plain, n_ctx=ctx)


def _speed(c: Candidate, mem: tuple[est.DeviceBytes, ...], ctx: int, cache: str, ngl: int) -> float | None:
    """Decode tokens/s for this placement (see aistack.plan.speed)."""
    w, a, t = c.weights, c.recipe.arch, c.target
    assert w is not None
    ratio = c.recipe.active_params / c.recipe.params_total
    work = min(ctx, WORKING_CTX)
    kv_read = est.kv_read_bytes_per_token(a, work, cache, cache)
    streamed = (w.total_bytes - w.input_bytes) * ratio
    if t.unified or not t.gpus or ngl == 0:
        dev = t.host
        return decode_tps([(streamed + kv_read, dev.bandwidth_gbps or 0, t.build if t.build != "metal" else "metal")])
    n = a.n_layers
    k = min(ngl, n)
    gpu_w = w.gpu_bytes(ngl) * ratio
    host_w = streamed - gpu_w
    reads = [(host_w + kv_read * (n - k) / n, t.host.bandwidth_gbps or 0, "cpu")]
    total_share = sum(c.shares or (1.0,))
    for g, share in zip(t.gpus, c.shares or (1.0,)):
        f = share / total_share
        reads.append(((gpu_w + kv_read * k / n) * f, g.bandwidth_gbps or 0, g.kind))
    return decode_tps(reads)


def _ctx_choices(cap: int, ctx_train: int, requested: int | None) -> list[int]:
    if requested:
        return [requested]
    top = min(cap, ctx_train)
    out = []
    c = top
    while c >= min(MIN_CTX, ctx_train):
        out.append(c)
        c //= 2
    return out or [min(MIN_CTX, ctx_train)]


def _evaluate(c: Candidate, req_ctx: int | None, fa: bool, ubatch: int) -> Candidate:
    t, a = c.target, c.recipe.arch
    caps = _capacities(t)
    if req_ctx and req_ctx > a.ctx_train:
        c.reason = f"--ctx {req_ctx} exceeds the trained context {a.ctx_train}"
        return c
    main_cap = sum(g.capacity_bytes for g in t.gpus) if t.gpus else t.host.capacity_bytes
    choices = _ctx_choices(ctx_cap(main_cap), a.ctx_train, req_ctx)
    useful = min(USEFUL_CTX, a.ctx_train, choices[0])
    kv_types = ["f16"] if t.backend in ("mlx", "ternary") else ["f16", "q8_0"]
    seq = [("f16", x) for x in choices if x >= useful or req_ctx] + \
          ([("q8_0", x) for x in choices] if "q8_0" in kv_types else []) + \
          [("f16", x) for x in choices if x < useful and not req_ctx]
    full_ngl = a.n_layers + 1 if (t.gpus or t.unified) else 0
    if t.gpus:
        tot = sum(g.capacity_bytes for g in t.gpus) or 1
        c.shares = tuple(round(g.capacity_bytes / tot, 3) for g in t.gpus)
    last_over: list[str] = []
    for cache, ctx in seq:
        mem = _memory(c, ctx, cache, full_ngl, ubatch, fa)
        over = _over(mem, caps)
        if not over:
            c.fits, c.ctx, c.cache_type, c.n_gpu_layers, c.memory = True, ctx, cache, full_ngl, mem
            c.offload = "full" if full_ngl else "none"
            c.tps = _speed(c, mem, ctx, cache, full_ngl)
            return c
        if not last_over:
            last_over = over
    smallest = seq[-1] if seq else ("f16", MIN_CTX)
    if t.gpus and not t.unified:
        # partial offload: most layers on the GPU(s) at a useful context, rest on the host
        ctx = req_ctx or min(useful, choices[0])
        cpu_mem = _memory(Candidate(c.recipe, c.artifact, t, weights=c.weights, shares=c.shares), ctx, "f16", 0, ubatch, fa)
        cpu_tps = _speed(c, cpu_mem, ctx, "f16", 0)
        # more layers on the GPU only ever adds GPU bytes: binary-search the most that fit
        lo, hi = 0, a.n_layers
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if _over(_memory(c, ctx, "f16", mid, ubatch, fa), caps):
                hi = mid - 1
            else:
                lo = mid
        for k in ([lo] if lo > 0 else []):
            mem = _memory(c, ctx, "f16", k, ubatch, fa)
            if not _over(mem, caps):
                tps = _speed(c, mem, ctx, "f16", k)
                if tps and cpu_tps and tps < cpu_tps * 1.1:
                    c.reason = (f"partial offload ({k}/{a.n_layers} layers on GPU) predicts {tps} tok/s, "
                                f"not better than CPU alone ({cpu_tps} tok/s)")
                    return c
                c.fits, c.ctx, c.cache_type, c.n_gpu_layers, c.memory = True, ctx, "f16", k, mem
                c.offload, c.tps = "partial", tps
                return c
    mem = _memory(c, smallest[1], smallest[0], full_ngl, ubatch, fa)
    c.needs = _over(mem, caps) or last_over
    c.reason = f"does not fit at {smallest[1]} tokens ({smallest[0]} cache): " + "; ".join(c.needs)
    return c


def _score(c: Candidate, purpose: str) -> float:
    q = c.recipe.score(purpose) or 0.0
    useful = min(USEFUL_CTX, c.recipe.arch.ctx_train)
    ctx_pen = 2 * math.log2(useful / c.ctx) if c.ctx and c.ctx < useful else 0.0
    return round(q - c.artifact.penalty - ctx_pen + c.target.bonus, 2)


# --- supervisor ------------------------------------------------------------------


def choose_supervisor(profile: HardwareProfile, request: Request, gpu_vendor: str | None) -> tuple[str, str, str]:
    """(supervisor, source, note). Explicit request wins; else systemd, docker, launchd, embedded."""
    h = profile.host
    want = request.runtime.value
    if want:
        problem = None
        if want == "systemd" and not (h.init.systemd_system or h.init.systemd_user):
            problem = "systemd is not running as PID 1 here (no system or user manager)"
        elif want == "docker" and not h.docker.reachable:
            problem = "the Docker engine is not reachable"
        elif want == "docker" and gpu_vendor == "nvidia" and not h.docker.nvidia_runtime:
            problem = "Docker has no NVIDIA container runtime configured, and this plan uses an NVIDIA GPU"
        elif want == "launchd" and not h.init.launchd:
            problem = "launchd exists only on macOS"
        if problem:
            raise UnsatisfiableError(
                f"--runtime {want} cannot be used: {problem}. Nothing was changed.",
                hint="Leave --runtime out to let aistack choose, or use --runtime embedded.",
                details={"runtime": want},
            )
        note = ("system manager" if h.is_root else "user manager") if want == "systemd" else ""
        return want, request.runtime.source, note
    if h.init.systemd_system and h.is_root:
        return "systemd", "auto", "PID 1 is systemd and we are root: system manager"
    if h.init.systemd_user and not h.is_root:
        return "systemd", "auto", "PID 1 is systemd: user manager"
    if h.docker.reachable and (gpu_vendor != "nvidia" or h.docker.nvidia_runtime):
        return "docker", "auto", "Docker engine reachable"
    if h.init.launchd:
        return "launchd", "auto", "macOS"
    note = "no systemd, Docker or launchd available"
    if h.docker.reachable and gpu_vendor == "nvidia":
        note = "Docker lacks the NVIDIA runtime; no systemd"
    return "embedded", "auto", note


# --- the planner ----------------------------------------------------------------


def _threads(profile: HardwareProfile) -> tuple[int, str]:
    phys = profile.cpu.physical_cores or max(1, (profile.cpu.logical_cores or 2) // 2)
    if phys > 8:
        return phys - 1, f"{phys} physical cores, one left for the OS and the HTTP thread"
    return phys, f"{phys} physical cores"


def _ref(a: Artifact, recipe: Recipe, header: "GgufHeader | None") -> ArtifactRef:
    return ArtifactRef(kind=a.kind, uri=a.uri, filename=a.filename, size_bytes=a.size_bytes, sha256=a.sha256)


def _refuse(what: str, cands: list[Candidate], request: Request) -> UnsatisfiableError:
    lines = [c.label + ": " + c.reason for c in cands[:6]]
    return UnsatisfiableError(
        f"{what} cannot be served on this machine. Nothing was changed.\n  " + "\n  ".join(lines or ["no candidate"]),
        hint="Try a smaller model or quant (aistack plan --model ... --quant ...), a smaller --ctx, "
             "or leave the flags out to let aistack choose.",
        details={"candidates": [{"what": c.label, "reason": c.reason, "needs": c.needs} for c in cands[:20]]},
    )


def make_plan(
    profile: HardwareProfile,
    catalog: Catalog,
    request: Request,
    *,
    unavailable: frozenset[str] = frozenset(),
    gguf_headers: Mapping[str, "GgufHeader"] = {},
) -> Plan:
    purpose = request.purpose.value
    tgts, backend_rejections = targets(profile)
    if request.backend.value:
        chosen_backends = [t for t in tgts if t.backend == request.backend.value]
        if not chosen_backends:
            why = "; ".join(f"{r.what}: {r.reason}" for r in backend_rejections if r.what.startswith(request.backend.value))
            raise UnsatisfiableError(
                f"--backend {request.backend.value} is not available on this machine"
                + (f" ({why})" if why else "") + ". Nothing was changed.",
                hint="Available here: " + ", ".join(sorted({t.backend for t in tgts})),
            )
        tgts = chosen_backends

    if request.model.value:
        recipes = [catalog.get(request.model.value)]
    else:
        recipes = list(catalog.for_purpose(purpose))
        if not recipes:
            raise UnsatisfiableError(f"No model in the catalog serves purpose '{purpose}'.")

    fa_ok = True
    ubatch = 512
    cands: list[Candidate] = []
    skipped: list[Alternative] = []
    for r in recipes:
        arts = list(r.artifacts)
        if request.quant.value:
            arts = [a for a in arts if a.quant.lower() == request.quant.value.lower()]
            if not arts:
                raise UnsatisfiableError(
                    f"{r.id} has no quantisation '{request.quant.value}' (it has: "
                    + ", ".join(a.quant for a in r.artifacts) + "). Nothing was changed.",
                    hint="Available: " + ", ".join(f"{a.quant} ({a.kind})" for a in r.artifacts),
                )
        for a in arts:
            if a.uri in unavailable:
                skipped.append(Alternative(f"{r.id} {a.quant}", f"artifact could not be fetched ({a.uri})"))
                continue
            for t in tgts:
                if t.artifact_kind != a.kind:
                    continue
                header = gguf_headers.get(a.uri)
                c = Candidate(r, a, t, weights=est.weights(r, a, header))
                fa = t.backend != "ternary" and fa_ok
                _evaluate(c, request.ctx_tokens.value, fa, ubatch)
                if c.fits:
                    c.score = _score(c, purpose) if not request.model.value else _score(c, r.purposes[0] if purpose not in r.purposes else purpose)
                cands.append(c)

    fitting = [c for c in cands if c.fits]
    if not fitting:
        cands.sort(key=lambda c: c.weights.total_bytes if c.weights else 0)
        asked = request.model.value or request.quant.value or request.backend.value or request.ctx_tokens.value
        what = (f"{request.model.value or 'The request'}" if asked else f"No model for purpose '{purpose}'")
        raise _refuse(what, cands, request)

    explicit_model = request.model.value is not None
    fast = [c for c in fitting if (c.tps or 0) >= MIN_TPS]
    warnings: list[str] = []
    if explicit_model or fast:
        pool = fitting if explicit_model else fast
        key = lambda c: (c.score, c.tps or 0)  # noqa: E731
        best = max(pool, key=key)
        full = [c for c in pool if c.offload == "full" and (c.target.gpus or c.target.unified)]
        if full and best not in full:
            best_full = max(full, key=key)
            if best_full.score >= best.score - FULL_OFFLOAD_PREFERENCE:
                best = best_full
    else:
        best = max(fitting, key=lambda c: (c.tps or 0, c.score))
        warnings.append(f"No candidate reaches {MIN_TPS:.0f} tok/s here; chose the fastest that fits ({best.tps} tok/s).")
    return _build_plan(profile, catalog, request, best, cands, backend_rejections + skipped, warnings, fa_ok, ubatch,
                       unavailable)


def _why_lost(c: Candidate, best: Candidate) -> str:
    """The reason, with numbers, that a candidate lost to ``best``."""
    if not c.fits:
        return c.reason
    where = (f"partial offload {c.n_gpu_layers}/{c.recipe.arch.n_layers} layers" if c.offload == "partial"
             else f"{c.ctx} tokens")
    if (c.tps or 0) < MIN_TPS <= (best.tps or 0):
        return f"fits ({where}), score {c.score} vs {best.score}, but predicts {c.tps} tok/s < {MIN_TPS:.0f} tok/s floor"
    if c.score > best.score and c.offload != "full" and best.offload == "full":
        placed = where if c.offload == "partial" else "the CPU"
        return (f"fits only on {placed} ({c.tps} tok/s); full GPU offload is preferred within "
                f"{FULL_OFFLOAD_PREFERENCE:.0f} points (score {c.score} vs {best.score})")
    if c.score < best.score:
        return f"ranks lower: score {c.score} vs {best.score} ({c.tps} tok/s)"
    return f"same score {c.score}, slower: {c.tps} vs {best.tps} tok/s"


def _rejections(best: Candidate, cands: list[Candidate], purpose: str) -> list[Alternative]:
    out: list[Alternative] = []
    # the better quants of the chosen model on the chosen target
    for c in cands:
        if c is best or c.recipe is not best.recipe or c.target is not best.target:
            continue
        if c.artifact.penalty < best.artifact.penalty:
            out.append(Alternative(c.label, _why_lost(c, best)))
    # other models: the most interesting variant per (recipe, target)
    groups: dict[tuple[str, str], Candidate] = {}
    for c in cands:
        if c.recipe is best.recipe:
            continue
        key = (c.recipe.id, c.target.name)
        cur = groups.get(key)
        if cur is None or (c.fits, c.score, -c.artifact.penalty) > (cur.fits, cur.score, -cur.artifact.penalty):
            groups[key] = c
    ranked = sorted(groups.values(), key=lambda c: -(c.recipe.score(purpose) or 0) + (0 if c.fits else 0.5))
    best_q = best.recipe.score(purpose) or 0
    better = [c for c in ranked if (c.recipe.score(purpose) or 0) >= best_q]
    lower = [c for c in ranked if (c.recipe.score(purpose) or 0) < best_q and c.fits]
    out += [Alternative(c.label, _why_lost(c, best)) for c in better[:10] + lower[:4]]
    # other targets for the same model
    for c in cands:
        if c.recipe is best.recipe and c.target is not best.target and c.artifact is best.artifact:
            out.append(Alternative(c.label, _why_lost(c, best)))
    return out


def _draft(best: Candidate, catalog: Catalog, request: Request, unavailable: frozenset[str], ubatch: int):
    r = best.recipe
    if not (request.draft.value and r.draft and best.target.backend == "llama.cpp" and best.target.gpus
            and best.offload == "full"):
        return None, None, None
    d = catalog.find(r.draft)
    if d is None:
        return None, None, None
    arts = [a for a in d.artifacts_of("gguf") if a.uri not in unavailable]
    if not arts:
        return None, None, f"draft {d.id}: no fetchable GGUF"
    a = min(arts, key=lambda x: (x.quant != "Q8_0", x.penalty))
    w = est.weights(d, a)
    need = w.total_bytes + est.kv_cache_bytes(d.arch, best.ctx, "f16", "f16") + est.compute_bytes(d.arch, best.ctx, ubatch)
    main = best.memory[1] if len(best.memory) > 1 else best.memory[0]
    cap = next(g for g in best.target.gpus if g.name == main.device).capacity_bytes
    if main.total_bytes + need > cap:
        return None, None, f"draft {d.id} {a.quant} needs {_gib(need)} more on {main.device}, {_gib(cap - main.total_bytes)} left"
    return d, a, need


def _build_plan(profile, catalog, request, best: Candidate, cands, extra_rejected, warnings, fa, ubatch, unavailable) -> Plan:
    r, a, t = best.recipe, best.artifact, best.target
    purpose = request.purpose.value
    threads, threads_note = _threads(profile)
    gpu_vendor = None
    if t.gpus:
        gpu_vendor = {"cuda": "nvidia", "rocm": "amd", "vulkan": "amd", "sycl": "intel"}.get(t.gpus[0].kind)
    supervisor, sup_source, sup_note = choose_supervisor(profile, request, gpu_vendor)

    draft_recipe, draft_art, draft_need = _draft(best, catalog, request, unavailable, ubatch)
    memory = list(best.memory)
    if draft_recipe is not None:
        i = 1 if len(memory) > 1 else 0
        m = memory[i]
        memory[i] = est.DeviceBytes(m.device, m.weights_bytes + int(draft_need), m.kv_cache_bytes, m.compute_bytes,
                                    m.overhead_bytes)
    caps = _capacities(t)
    dev_mem = tuple(DeviceMemory(m.device, m.weights_bytes, m.kv_cache_bytes, m.compute_bytes, m.overhead_bytes,
                                 caps[m.device].capacity_bytes) for m in memory)

    slots = request.parallel_slots.value or 1
    fa_on = fa and t.backend != "ternary"
    params = RuntimeParams(
        ctx_tokens=best.ctx,
        n_gpu_layers=best.n_gpu_layers,
        threads=threads,
        threads_batch=threads,
        batch_tokens=2048 if best.target.gpus or best.target.unified else 512,
        ubatch_tokens=ubatch,
        flash_attn=fa_on,
        cache_type_k=best.cache_type,
        cache_type_v=best.cache_type,
        parallel_slots=slots,
        tensor_split=best.shares if len(t.gpus) > 1 else (),
        main_gpu=0,
        visible_devices=tuple(g.gpu_index for g in t.gpus if g.gpu_index is not None),
        draft_model_id=draft_recipe.id if draft_recipe else None,
        draft_n_gpu_layers=(draft_recipe.arch.n_layers + 1) if draft_recipe else 0,
    )

    # speed basis
    if t.unified:
        basis_dev = f"{t.host.label} {t.host.bandwidth_gbps:.0f} GB/s unified memory" if t.host.bandwidth_gbps else "unknown bandwidth"
    elif t.gpus and best.n_gpu_layers:
        bw = ", ".join(f"{g.label} {g.bandwidth_gbps:.0f} GB/s" if g.bandwidth_gbps else f"{g.label} ?" for g in t.gpus)
        basis_dev = bw + ("" if best.offload == "full" else f" + {t.bandwidth_note} for host layers")
    else:
        basis_dev = t.bandwidth_note
    ratio = r.active_params / r.params_total
    speed_basis = (f"decode is memory-bound: {basis_dev}, x efficiency (aistack.plan.speed), over "
                   f"{_gib((best.weights.total_bytes - best.weights.input_bytes) * ratio)} of weights"
                   + (f" (active {r.active_params / 1e9:.1f}B of {r.params_total / 1e9:.1f}B params)" if r.params_active else "")
                   + f" + KV at {min(best.ctx, WORKING_CTX)} tokens read per token")

    where = ("unified memory" if t.unified else
             "GPU" + ("s" if len(t.gpus) > 1 else "") + f" ({', '.join(g.label for g in t.gpus)})" if t.gpus and best.n_gpu_layers
             else "CPU RAM")
    reasons = []
    if request.model.value:
        reasons.append(f"{r.id}: requested ({request.model.source}).")
    else:
        reasons.append(f"{r.name} scores highest for '{purpose}' (quality {r.score(purpose):.0f}) among models that fit"
                       + (f" and reach {MIN_TPS:.0f} tok/s" if (best.tps or 0) >= MIN_TPS else "") + ".")
    reasons.append(f"{a.quant} (quality rank {a.quality_rank}) is its best quantisation that fits in {where} "
                   f"with {best.ctx} tokens of context.")
    if best.offload == "full" and t.gpus:
        reasons.append(f"Full GPU offload: all {r.arch.n_layers} layers and the output head on the GPU.")
    elif best.offload == "partial":
        reasons.append(f"Partial offload: {best.n_gpu_layers}/{r.arch.n_layers} layers on the GPU; "
                       f"predicted {best.tps} tok/s beats CPU-only.")
    if t.backend == "mlx":
        reasons.append("MLX is the native path on Apple Silicon.")
    if t.backend == "ternary":
        reasons.append("No usable GPU: the ternary model runs on bitnet.cpp CPU kernels.")
    if best.cache_type != "f16":
        reasons.append(f"KV cache {best.cache_type}: f16 could not hold {USEFUL_CTX} tokens next to the weights.")
    holding = [m for m in dev_mem if m.device != "cpu" or not (t.gpus and best.offload == "full")]
    used = sum(m.total_bytes for m in holding)
    capacity = sum(m.capacity_bytes for m in holding)
    reasons.append(f"Predicted memory {_gib(used)} of {_gib(capacity)} usable; predicted {best.tps} tok/s.")
    if not t.installable:
        warnings.append(f"{t.name} is planned but aistack installs only llama.cpp cpu/cuda/metal and ternary today.")
    host = request.host.value
    api_key = host not in LOOPBACK
    if api_key:
        warnings.append(f"Bound to {host}: the API requires a key (generated at 'up').")
    if draft_need is not None and draft_recipe is None and isinstance(draft_need, str):
        warnings.append(draft_need)

    def S(name, value, source, note=None):
        return Setting(name, str(value), source, note)

    settings = [
        S("model", r.id, request.model.source if request.model.value else "auto"),
        S("quant", a.quant, request.quant.source if request.quant.value else "auto"),
        S("backend", t.name, request.backend.source if request.backend.value else "auto"),
        S("ctx_tokens", best.ctx, request.ctx_tokens.source if request.ctx_tokens.value else "auto",
          None if request.ctx_tokens.value else f"cap {ctx_cap(sum(g.capacity_bytes for g in t.gpus) or t.host.capacity_bytes)} by memory class, trained {r.arch.ctx_train}"),
        S("purpose", purpose, request.purpose.source),
        S("supervisor", supervisor, sup_source, sup_note or None),
        S("host", host, request.host.source),
        S("port", request.port.value, request.port.source),
        S("parallel_slots", slots, request.parallel_slots.source if request.parallel_slots.value else "default"),
        S("threads", threads, "auto", threads_note),
        S("n_gpu_layers", best.n_gpu_layers, "auto"),
        S("flash_attn", fa_on, "auto", None if fa_on else "bitnet.cpp has no flash attention"),
        S("cache_type", best.cache_type, "auto"),
        S("draft", draft_recipe.id if draft_recipe else "none", request.draft.source),
    ]
    rejected = _rejections(best, cands, purpose) + list(extra_rejected)
    return Plan(
        backend=t.backend,
        build=t.build,
        model_id=r.id,
        quant=a.quant,
        artifact=_ref(a, r, None),
        params=params,
        supervisor=supervisor,
        host=host,
        port=request.port.value,
        api_key_required=api_key,
        memory=dev_mem,
        predicted_decode_tps=best.tps,
        speed_basis=speed_basis,
        draft_artifact=_ref(draft_art, draft_recipe, None) if draft_recipe else None,
        purpose=purpose,
        reasons=tuple(reasons),
        rejected=tuple(rejected),
        settings=tuple(settings),
        warnings=tuple(warnings),
    )
