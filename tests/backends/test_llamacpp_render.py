"""render(): the argv, env, devices, mounts and image a plan turns into."""

from __future__ import annotations

import pytest

from aistack.backends.base import InstalledBackend, RenderInputs
from aistack.backends.llamacpp import IMAGE_RELEASE_TAG, LlamaCppBackend
from aistack.errors import DeployError
from aistack.service import Mount, ServiceSpec

from backend_plans import cpu_plan, with_params

INSTALLED = InstalledBackend("llama.cpp", "cpu", "/opt/llama/llama-server", "x", "user")


def flag(args: tuple[str, ...], name: str) -> str:
    """The value after ``name`` in args; fails when absent or repeated."""
    assert args.count(name) == 1, f"{name} appears {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


def render(plan, inputs=None, installed=INSTALLED) -> ServiceSpec:
    return LlamaCppBackend().render(plan, installed, inputs or RenderInputs(model_path="/models/m.gguf"))


def test_cpu_plan_argv():
    plan = with_params(cpu_plan(port=8123), ctx_tokens=4096, parallel_slots=2, threads=2, threads_batch=2,
                       batch_tokens=256, ubatch_tokens=128, flash_attn=True, cache_type_k="q8_0", cache_type_v="q8_0")
    spec = render(plan)
    a = spec.args
    assert spec.executable == "/opt/llama/llama-server"
    assert flag(a, "-m") == "/models/m.gguf"
    assert flag(a, "-a") == "smollm2-135m-instruct"
    assert flag(a, "--host") == "127.0.0.1"
    assert flag(a, "--port") == "8123"
    assert flag(a, "-c") == str(4096 * 2)  # total context = per-slot x slots
    assert flag(a, "-np") == "2"
    assert flag(a, "-ngl") == "0"
    assert (flag(a, "-t"), flag(a, "-tb")) == ("2", "2")
    assert (flag(a, "-b"), flag(a, "-ub")) == ("256", "128")
    assert flag(a, "-fa") == "on"
    assert (flag(a, "-ctk"), flag(a, "-ctv")) == ("q8_0", "q8_0")
    assert "--metrics" in a
    for absent in ("--api-key-file", "--api-key", "--no-webui", "-ts", "-mg", "-md", "--load-mode"):
        assert absent not in a
    assert spec.env == ()
    assert spec.devices == () and spec.gpu_vendor is None
    assert spec.mounts == (Mount("/models/m.gguf", "/models/m.gguf", True),)
    assert spec.port == 8123 and spec.host == "127.0.0.1"
    assert spec.health_url == "http://127.0.0.1:8123/health"
    assert spec.image == f"ghcr.io/ggml-org/llama.cpp:server-{IMAGE_RELEASE_TAG}"
    assert spec.image_entrypoint == ("/app/llama-server",)
    assert spec.model_id == "smollm2-135m-instruct"
    assert spec.plan_fingerprint == plan.fingerprint()
    assert ServiceSpec.from_dict(spec.to_dict()) == spec


def test_flash_attention_off_and_mlock():
    spec = render(with_params(cpu_plan(), flash_attn=False, mlock=True))
    assert flag(spec.args, "-fa") == "off"
    assert flag(spec.args, "--load-mode") == "mmap+mlock"


def test_cuda_multi_gpu_tensor_split():
    plan = with_params(
        cpu_plan(build="cuda"),
        n_gpu_layers=999,
        tensor_split=(0.6, 0.4),
        main_gpu=1,
        visible_devices=(1, 3),
    )
    installed = InstalledBackend("llama.cpp", "cuda", "/opt/llama/llama-server", "x", "source-build")
    spec = render(plan, installed=installed)
    assert flag(spec.args, "-ngl") == "999"
    assert flag(spec.args, "-ts") == "0.6,0.4"
    assert flag(spec.args, "-mg") == "1"
    assert dict(spec.env) == {"CUDA_VISIBLE_DEVICES": "1,3"}
    assert spec.gpu_vendor == "nvidia"
    assert spec.devices == ("/dev/nvidia1", "/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm")
    assert spec.visible_devices == (1, 3)
    assert spec.image == f"ghcr.io/ggml-org/llama.cpp:server-cuda-{IMAGE_RELEASE_TAG}"


def test_rocm_devices_and_env():
    plan = with_params(cpu_plan(build="rocm"), n_gpu_layers=999, visible_devices=(0,))
    spec = render(plan)
    assert dict(spec.env) == {"HIP_VISIBLE_DEVICES": "0"}
    assert spec.gpu_vendor == "amd"
    assert spec.devices == ("/dev/kfd", "/dev/dri/renderD128")


def test_off_loopback_needs_key_file_and_drops_webui():
    plan = cpu_plan(host="0.0.0.0", api_key_required=True)
    inputs = RenderInputs(model_path="/models/m.gguf", api_key_file="/state/api-key")
    spec = render(plan, inputs)
    assert flag(spec.args, "--api-key-file") == "/state/api-key"
    assert "--no-webui" in spec.args
    assert spec.api_key_file == "/state/api-key"
    assert Mount("/state/api-key", "/state/api-key", True) in spec.mounts
    # the key itself never reaches argv or env: only the path does
    assert "--api-key" not in spec.args
    assert all("KEY" not in k for k, _ in spec.env)
    assert spec.base_url == "http://127.0.0.1:8080"


def test_api_key_required_without_file_is_refused():
    with pytest.raises(DeployError, match="no key file"):
        render(cpu_plan(host="0.0.0.0", api_key_required=True))


def test_off_loopback_without_key_is_refused():
    with pytest.raises(DeployError, match="without an API key"):
        render(cpu_plan(host="192.168.1.5", api_key_required=False))


def test_draft_model():
    plan = with_params(cpu_plan(build="cuda"), n_gpu_layers=999, draft_model_id="d", draft_n_gpu_layers=99, draft_max_tokens=8)
    inputs = RenderInputs(model_path="/models/m.gguf", draft_model_path="/models/d.gguf")
    spec = render(plan, inputs)
    assert flag(spec.args, "-md") == "/models/d.gguf"
    assert flag(spec.args, "-ngld") == "99"
    assert flag(spec.args, "--spec-draft-n-max") == "8"
    assert "--draft-max" not in spec.args  # removed upstream in favour of --spec-draft-n-max
    assert Mount("/models/d.gguf", "/models/d.gguf", True) in spec.mounts


def test_image_override_env_then_config(monkeypatch, _guard_home):
    from aistack.paths import dirs, ensure_dir

    ensure_dir(dirs().config)
    dirs().config_file.write_text('[images]\ncpu = "local/llama:cfg"\n')
    installed = InstalledBackend("llama.cpp", "cpu", "/x/llama-server", None, "user")
    assert render(cpu_plan(), installed=installed).image == "local/llama:cfg"
    monkeypatch.setenv("AISTACK_IMAGE_CPU", "local/llama:env")
    assert render(cpu_plan(), installed=installed).image == "local/llama:env"


def test_memory_limit_covers_plan():
    plan = cpu_plan()
    spec = render(plan)
    planned = sum(m.total_bytes for m in plan.memory)
    assert spec.memory_limit_bytes is not None and spec.memory_limit_bytes > planned
