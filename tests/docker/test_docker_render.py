"""Pure parts of the Docker supervisor (fast tier) and its refusals against the
real engine (docker tier): argument rewriting, publish address, pull failure
messages, GPU checks, foreign containers."""

from __future__ import annotations

import pytest

from aistack.errors import DeployError, InstallError
from aistack.service import Mount, ServiceSpec
from aistack.supervisors import docker as sup


def _spec(**kw) -> ServiceSpec:
    base = dict(
        name="aistack",
        executable="/usr/bin/llama-server",
        args=("-m", "/root/models/m.gguf", "--host", "127.0.0.1", "--port", "8080", "--api-key-file", "/root/state/api_key"),
        host="127.0.0.1",
        port=8080,
        mounts=(Mount("/root/models/m.gguf", "/root/models/m.gguf"), Mount("/root/state/api_key", "/root/state/api_key")),
        image="aistack-test/llama-server:cpu",
        image_entrypoint=("/app/llama-server",),
        api_key_file="/root/state/api_key",
    )
    base.update(kw)
    return ServiceSpec(**base)


def test_container_args_move_mounted_paths_and_listen_on_all_container_interfaces():
    spec = _spec()
    args = sup.container_args(spec, [m.target for m in spec.mounts])
    assert args[:2] == ["-m", "/aistack/root/models/m.gguf"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--api-key-file") + 1] == "/aistack/root/state/api_key"
    assert args[args.index("--port") + 1] == "8080"
    assert args[-1] == "--reuse-port" and args.count("--reuse-port") == 1


def test_container_args_handle_flag_equals_value_and_leave_other_paths_alone():
    spec = _spec(args=("--model=/root/models/m.gguf", "--host=::1", "--path", "/srv/www", "--reuse-port"))
    args = sup.container_args(spec, ["/root/models/m.gguf"])
    assert args == ["--model=/aistack/root/models/m.gguf", "--host=0.0.0.0", "--path", "/srv/www", "--reuse-port"]


def test_container_args_do_not_match_a_path_that_only_shares_a_prefix():
    spec = _spec(args=("-m", "/root/models/m.gguf.bak"))
    args = sup.container_args(spec, ["/root/models/m.gguf"])
    assert args[1] == "/root/models/m.gguf.bak"
    assert args[2:4] == ["--host", "0.0.0.0"]  # added when the spec had none


@pytest.mark.parametrize(
    "host, published",
    [("127.0.0.1", "127.0.0.1"), ("localhost", "127.0.0.1"), ("::1", "::1"), ("0.0.0.0", "0.0.0.0"), ("192.0.2.7", "192.0.2.7")],
)
def test_published_address_follows_the_planned_bind_address(host, published):
    assert sup._publish_ip(host) == published


@pytest.mark.parametrize(
    "message, why",
    [
        ("manifest unknown: manifest unknown", "no such image or tag"),
        ("unauthorized: authentication required", "authentication"),
        ('Get "https://registry.example/v2/": dial tcp: lookup registry.example: no such host', "no network"),
        ("something odd", "the pull failed"),
    ],
)
def test_pull_failures_say_why_and_what_to_do(message, why):
    text, hint = sup._pull_failure("example/image:tag", RuntimeError(message))
    assert why in text and "Nothing was started" in text
    assert hint


def test_image_references_split_into_repository_and_tag():
    assert sup._split_ref("ghcr.io/ggml-org/llama.cpp:server-b1") == ("ghcr.io/ggml-org/llama.cpp", "server-b1")
    assert sup._split_ref("localhost:5000/x") == ("localhost:5000/x", "latest")
    assert sup._split_ref("x@sha256:ab") == ("x", "sha256:ab")


def test_engine_timestamps_become_epoch_seconds():
    assert sup._epoch("2026-11-24T00:48:51.123456789Z") == pytest.approx(1795481331.123456, abs=1e-3)
    assert sup._epoch("0001-01-01T00:00:00Z") is None
    assert sup._epoch(None) is None


def test_healthcheck_is_bash_by_default_and_configurable(monkeypatch):
    hc = sup._healthcheck(_spec(mounts=()))
    assert hc["test"][:2] == ["CMD", "/bin/bash"] and "/dev/tcp/127.0.0.1/8080" in hc["test"][3]
    monkeypatch.setenv("AISTACK_DOCKER_HEALTHCHECK", "curl -fs http://127.0.0.1:{port}{path}")
    assert sup._healthcheck(_spec(mounts=()))["test"] == ["CMD", "/bin/sh", "-c", "curl -fs http://127.0.0.1:8080/health"]
    monkeypatch.setenv("AISTACK_DOCKER_HEALTHCHECK", "none")
    assert sup._healthcheck(_spec(mounts=())) is None


# --- against the real engine ---------------------------------------------------


@pytest.mark.docker
def test_nvidia_plan_without_the_nvidia_runtime_is_refused_by_name(docker_engine):
    if "nvidia" in (docker_engine.info().get("Runtimes") or {}):
        pytest.skip("this engine has the NVIDIA runtime")
    s = sup.DockerSupervisor(progress=lambda _m: None)
    with pytest.raises(DeployError) as err:
        s._gpu_options(_spec(gpu_vendor="nvidia", devices=("/dev/nvidia0",), visible_devices=(0,)))
    assert "NVIDIA Container Toolkit" in err.value.message
    assert "nvidia-ctk runtime configure" in err.value.hint


@pytest.mark.docker
def test_amd_plan_without_device_nodes_is_refused(docker_engine):
    s = sup.DockerSupervisor(progress=lambda _m: None)
    with pytest.raises(DeployError) as err:
        s._gpu_options(_spec(gpu_vendor="amd", devices=("/dev/kfd", "/dev/dri/renderD199")))
    assert "/dev/dri/renderD199" in err.value.message


@pytest.mark.docker
def test_missing_image_is_pulled_and_a_failed_pull_says_why(docker_engine):
    lines: list[str] = []
    s = sup.DockerSupervisor(progress=lines.append)
    with pytest.raises(InstallError) as err:
        s._ensure_image("aistack-test/no-such-image:never-built")
    assert "Could not pull aistack-test/no-such-image:never-built" in err.value.message
    assert err.value.hint
    assert any("pulling" in line for line in lines)
    # Present locally: no pull, no progress.
    lines.clear()
    s._ensure_image("aistack-test/llama-server:cpu")
    assert lines == []


@pytest.mark.docker
def test_stop_is_idempotent_for_a_container_already_gone(docker_engine):
    from aistack.supervisors.base import Handle

    s = sup.DockerSupervisor(progress=lambda _m: None)
    h = Handle("docker", "x-gone", {"container_id": "0" * 64, "container_name": "aistack-x-gone", "pod_name": "aistack-pod-1"})
    s.stop(h)
    s.stop(h)
    assert s.state(h).running is False and s.state(h).detail == "removed"
