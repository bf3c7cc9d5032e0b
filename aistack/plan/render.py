"""Human text for a Plan, in the spirit of ``terraform plan``."""

from __future__ import annotations

from aistack.output import human_bytes
from aistack.plan.model import Plan

BAR = 24


def _bar(used: int, cap: int) -> str:
    if cap <= 0:
        return "[" + "?" * BAR + "]"
    n = min(BAR, round(BAR * used / cap))
    return "[" + "#" * n + "." * (BAR - n) + "]"


def render(plan: Plan) -> str:
    p = plan.params
    a = plan.artifact
    lines = [
        "aistack will run:",
        "",
        f"  backend     {plan.backend} ({plan.build})",
        f"  model       {plan.model_id}  {plan.quant}  for {plan.purpose}",
        f"  file        {a.filename}  {human_bytes(a.size_bytes) if a.size_bytes else 'size from header/estimate'}",
        f"  source      {a.uri}",
    ]
    if plan.draft_artifact:
        lines.append(f"  draft       {p.draft_model_id}  {plan.draft_artifact.filename}")
    lines += [
        f"  supervisor  {plan.supervisor}",
        f"  endpoint    http://{plan.host}:{plan.port}/v1" + ("  (API key required)" if plan.api_key_required else ""),
        f"  params      ctx {p.ctx_tokens}, gpu layers {p.n_gpu_layers}, threads {p.threads}, "
        f"batch {p.batch_tokens}/{p.ubatch_tokens}, flash-attn {'on' if p.flash_attn else 'off'}, "
        f"kv {p.cache_type_k}/{p.cache_type_v}, slots {p.parallel_slots}"
        + (f", tensor split {'/'.join(str(x) for x in p.tensor_split)}" if p.tensor_split else ""),
        "",
        "memory (predicted):",
    ]
    for m in plan.memory:
        lines.append(
            f"  {m.device:<8} {_bar(m.total_bytes, m.capacity_bytes)} {human_bytes(m.total_bytes):>10} of "
            f"{human_bytes(m.capacity_bytes)} usable  (weights {human_bytes(m.weights_bytes)}, "
            f"kv {human_bytes(m.kv_cache_bytes)}, compute {human_bytes(m.compute_bytes)}, "
            f"overhead {human_bytes(m.overhead_bytes)})"
        )
    tps = f"{plan.predicted_decode_tps} tok/s" if plan.predicted_decode_tps else "unknown"
    lines += ["", f"speed (predicted decode): {tps}", f"  basis: {plan.speed_basis}", "", "why:"]
    lines += [f"  + {r}" for r in plan.reasons]
    if plan.rejected:
        lines += ["", "rejected:"]
        lines += [f"  - {r.what}: {r.reason}" for r in plan.rejected]
    lines += ["", "settings:"]
    w = max(len(s.name) for s in plan.settings) if plan.settings else 0
    for s in plan.settings:
        lines.append(f"  {s.name:<{w}}  {s.value:<24} ({s.source}{': ' + s.note if s.note else ''})")
    if plan.warnings:
        lines += ["", "warnings:"]
        lines += [f"  ! {x}" for x in plan.warnings]
    lines += ["", "Apply it with: aistack up"]
    return "\n".join(lines)
