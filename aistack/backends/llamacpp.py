"""The llama.cpp backend: get a ``llama-server`` onto the machine, render its argv.

``install`` tries, in the order a user would want, and reports which won:

1. a binary the user points to (``AISTACK_LLAMA_SERVER`` or config.toml
   ``[llama_cpp] server = "..."``), checked by running ``--version``;
2. ``llama-server`` on PATH, if its version is one whose flags we render
   (and, for a GPU build, it lists a device of that kind);
   then a finished source build already in the cache (no download needed);
3. an official prebuilt release archive for this platform and build
   (``llamacpp_release``: pinned tag and sha256, verified before unpacking);
4. a build from pinned source (``llamacpp_source``), cached.

``render`` is pure apart from resolving the container image name (environment
and config). Flag names were checked against the vendored llama.cpp tree's
``common/arg.cpp`` (llama.cpp 0.5.0-dev, commit 0c1e570).
"""

from __future__ import annotations

import os
from pathlib import Path

from aistack import config
from aistack.backends.base import InstalledBackend, Progress, RenderInputs
from aistack.backends.llamacpp_release import RELEASE_TAG
from aistack.errors import DeployError, InstallError
from aistack.hardware.profile import HardwareProfile
from aistack.plan.model import Plan
from aistack.service import Mount, ServiceSpec

NAME = "llama.cpp"

# Builds this backend knows how to install and render.
BUILDS = ("cpu", "cuda", "metal", "vulkan", "rocm", "intel")

# Official server images, one per build, pinned to the upstream release tag
# RELEASE_TAG = b9174, the same pin as the release archives (the newest
# llama.cpp release tag we could confirm without registry access); the rendered flags were checked against the vendored tree
# (commit 0c1e570), which is newer. Move this pin to the release that contains
# 0c1e570 once the registry can be queried. Override per build with
# AISTACK_IMAGE_<BUILD> (AISTACK_IMAGE_CPU, AISTACK_IMAGE_CUDA, ...) or
# config.toml [images] <build> = "...".
IMAGE_REPOSITORY = "ghcr.io/ggml-org/llama.cpp"
IMAGE_RELEASE_TAG = RELEASE_TAG
IMAGE_FLAVOURS = {
    "cpu": "server",
    "cuda": "server-cuda",
    "vulkan": "server-vulkan",
    "rocm": "server-rocm",
    "intel": "server-intel",
}
IMAGE_ENTRYPOINT = ("/app/llama-server",)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class LlamaCppBackend:
    name = NAME

    def install(self, plan: Plan, profile: HardwareProfile, progress: Progress) -> InstalledBackend:
        return install_llama_server(plan.build, progress, backend=self.name)

    def install_image(self, plan: Plan) -> InstalledBackend:
        return image_install(plan.build, backend=self.name)

    def render(self, plan: Plan, installed: InstalledBackend, inputs: RenderInputs) -> ServiceSpec:
        return render_service(plan, installed, inputs)


def image_install(build: str, *, backend: str = NAME) -> InstalledBackend:
    """The server as a container image: nothing is built or downloaded on the host."""
    if build not in BUILDS:
        raise InstallError(
            f"llama.cpp has no '{build}' build; known builds: {', '.join(BUILDS)}.",
            hint="Re-run 'aistack plan' and use the build it chooses.",
        )
    image = resolve_image(build)
    if image is None:
        raise InstallError(
            f"There is no container image for the llama.cpp {build} build.",
            hint="Use --runtime embedded (or systemd), or set AISTACK_IMAGE_" + build.upper() + ".",
        )
    return InstalledBackend(backend, build, IMAGE_ENTRYPOINT[0], None, "image", image)


def resolve_image(build: str) -> str | None:
    """Container image for ``build``: env, then config.toml [images], then the pinned default."""
    env = os.environ.get(f"AISTACK_IMAGE_{build.upper()}")
    if env:
        return env
    configured = config.section("images").get(build)
    if configured:
        return str(configured)
    flavour = IMAGE_FLAVOURS.get(build)
    if flavour is None:
        return None  # metal: no container runs Metal
    return f"{IMAGE_REPOSITORY}:{flavour}-{IMAGE_RELEASE_TAG}"


# --------------------------------------------------------------------------
# install


def install_llama_server(build: str, progress: Progress, *, backend: str = NAME) -> InstalledBackend:
    """Find or fetch a llama-server for ``build``; see the module docstring for the order."""
    from aistack.backends import llamacpp_release, llamacpp_source
    from aistack.backends.llamacpp_version import check_binary, describe, is_supported, serves_build

    if build not in BUILDS:
        raise InstallError(
            f"llama.cpp has no '{build}' build; known builds: {', '.join(BUILDS)}.",
            hint="Re-run 'aistack plan' and use the build it chooses.",
        )
    image = resolve_image(build)
    tried: list[str] = []

    # (1) the user's own binary: trusted as given, only checked that it runs.
    user_path, where = _user_binary()
    if user_path:
        version = check_binary(user_path, origin=where)
        progress(f"llama-server: using {user_path} from {where} ({describe(version)})")
        if not is_supported(version):
            progress(
                f"warning: {user_path} reports {describe(version)}; aistack renders flags for "
                "llama.cpp 0.5.0 or newer, so the server may reject some of them"
            )
        return InstalledBackend(backend, build, str(user_path), version.text if version else None, "user", image)

    # (2) PATH, when its version speaks the flags we render and, for a GPU
    # build, it lists a device of that kind (a CPU-only binary cannot serve a
    # CUDA plan).
    from aistack.proc import which

    on_path = which("llama-server")
    if on_path:
        try:
            version = check_binary(Path(on_path), origin="PATH")
        except InstallError as exc:
            tried.append(f"PATH: {exc.message}")
        else:
            if not is_supported(version):
                tried.append(f"PATH: {on_path} is {describe(version)}, older than llama.cpp 0.5.0")
            elif not serves_build(Path(on_path), build):
                tried.append(f"PATH: {on_path} lists no {build} device")
            else:
                progress(f"llama-server: using {on_path} from PATH ({describe(version)})")
                return InstalledBackend(backend, build, on_path, version.text, "path", image)
    else:
        tried.append("PATH: no llama-server")

    # A finished source build already in the cache beats any download.
    cached = llamacpp_source.cached_build(build)
    if cached:
        return _from_source_build(cached, build, backend, image, progress)

    # (3) a pinned official release archive.
    asset = llamacpp_release.pinned_asset(build)
    if asset is None:
        tried.append(f"release: no pinned prebuilt archive for {llamacpp_release.platform_key()} {build}")
    else:
        try:
            exe = llamacpp_release.install_release(asset, progress)
            version = check_binary(exe, origin="release archive")
        except InstallError as exc:
            tried.append(f"release: {exc.message}")
        else:
            progress(f"llama-server: installed release {asset.tag} ({asset.filename}) at {exe.parent}")
            return InstalledBackend(backend, build, str(exe), version.text if version else asset.tag, "release", image)

    # (4) build from pinned source (cached after the first time).
    for line in tried:
        progress(f"llama-server: {line}")
    try:
        bindir = llamacpp_source.ensure_build(build, progress)
    except InstallError as exc:
        exc.details.setdefault("tried", tried)
        raise
    return _from_source_build(bindir, build, backend, image, progress)


def _from_source_build(bindir: Path, build: str, backend: str, image: str | None, progress: Progress) -> InstalledBackend:
    from aistack.backends.llamacpp_version import check_binary, describe

    exe = bindir / "llama-server"
    version = check_binary(exe, origin="source build")
    progress(f"llama-server: using source build {bindir} ({describe(version)})")
    return InstalledBackend(backend, build, str(exe), version.text if version else None, "source-build", image)


def _user_binary() -> tuple[Path | None, str]:
    env = os.environ.get("AISTACK_LLAMA_SERVER")
    if env:
        return Path(env).expanduser(), "AISTACK_LLAMA_SERVER"
    configured = config.section("llama_cpp").get("server")
    if configured:
        return Path(str(configured)).expanduser(), "config.toml [llama_cpp] server"
    return None, ""


# --------------------------------------------------------------------------
# render


def render_service(plan: Plan, installed: InstalledBackend, inputs: RenderInputs) -> ServiceSpec:
    """Turn the plan into llama-server's argv, env, devices, mounts and image."""
    if plan.api_key_required and not inputs.api_key_file:
        raise DeployError(
            f"The plan serves on {plan.host}, which needs an API key, but no key file was given.",
            hint="Nothing was started. Run 'aistack up' again; it creates the key file.",
        )
    off_loopback = plan.host not in LOOPBACK_HOSTS
    if off_loopback and not plan.api_key_required:
        raise DeployError(
            f"Refusing to serve on {plan.host} without an API key.",
            hint="Nothing was started. Bind to 127.0.0.1, or re-plan so the API key is required.",
        )
    p = plan.params
    slots = max(1, p.parallel_slots)
    args: list[str] = [
        "-m", inputs.model_path,
        "-a", plan.model_id,  # the name clients see in /v1/models and responses
        "--host", plan.host,
        "--port", str(plan.port),  # always explicit: upstream's default port may move
        # llama-server's -c is the TOTAL context, shared by all slots (-np):
        # each slot gets c/np tokens, so render ctx_tokens per slot x slots.
        "-c", str(p.ctx_tokens * slots),
        "-np", str(slots),
        "-ngl", str(p.n_gpu_layers),
        "-t", str(p.threads),
        "-tb", str(p.threads_batch),
        "-b", str(p.batch_tokens),
        "-ub", str(p.ubatch_tokens),
        "-fa", "on" if p.flash_attn else "off",
        "-ctk", p.cache_type_k,
        "-ctv", p.cache_type_v,
        # The plan already sized everything; don't let the server re-fit it.
        "--fit", "off",
        "--metrics",
    ]
    if len(p.tensor_split) > 1:
        args += ["-ts", ",".join(_num(x) for x in p.tensor_split)]
    if len(p.tensor_split) > 1 or p.main_gpu:
        args += ["-mg", str(p.main_gpu)]
    if p.mlock:
        # --mlock became --load-mode in this llama.cpp; mmap+mlock is the old meaning.
        args += ["--load-mode", "mmap+mlock"]
    if inputs.draft_model_path:
        args += [
            "-md", inputs.draft_model_path,
            "-ngld", str(p.draft_n_gpu_layers),
            "--spec-draft-n-max", str(p.draft_max_tokens),  # --draft-max was removed upstream
        ]
    if plan.api_key_required:
        args += ["--api-key-file", str(inputs.api_key_file)]
    if off_loopback:
        # The web UI is handy on loopback; off loopback it is surface we don't need.
        args.append("--no-webui")

    env: list[tuple[str, str]] = []
    vendor, devices = _gpu_devices(plan.build, p.visible_devices, len(p.tensor_split))
    if p.visible_devices:
        var = {
            "cuda": "CUDA_VISIBLE_DEVICES",
            "rocm": "HIP_VISIBLE_DEVICES",
            "vulkan": "GGML_VK_VISIBLE_DEVICES",
            "intel": "ONEAPI_DEVICE_SELECTOR",
        }.get(plan.build)
        if var == "ONEAPI_DEVICE_SELECTOR":
            env.append((var, "level_zero:" + ",".join(str(i) for i in p.visible_devices)))
        elif var:
            env.append((var, ",".join(str(i) for i in p.visible_devices)))

    mounts = [Mount(inputs.model_path, inputs.model_path, True)]
    if inputs.draft_model_path:
        mounts.append(Mount(inputs.draft_model_path, inputs.draft_model_path, True))
    if plan.api_key_required and inputs.api_key_file:
        mounts.append(Mount(inputs.api_key_file, inputs.api_key_file, True))

    return ServiceSpec(
        name="aistack",
        executable=installed.executable,
        args=tuple(args),
        host=plan.host,
        port=plan.port,
        health_path="/health",
        env=tuple(env),
        mounts=tuple(mounts),
        devices=devices,
        gpu_vendor=vendor,
        visible_devices=tuple(p.visible_devices),
        image=installed.image or resolve_image(plan.build),
        image_entrypoint=IMAGE_ENTRYPOINT,
        api_key_file=inputs.api_key_file if plan.api_key_required else None,
        memory_limit_bytes=_memory_limit(plan),
        backend=plan.backend,
        model_id=plan.model_id,
        plan_fingerprint=plan.fingerprint(),
    )


def _num(x: float) -> str:
    return f"{x:g}"


def _gpu_devices(build: str, visible: tuple[int, ...], n_split: int) -> tuple[str | None, tuple[str, ...]]:
    """The /dev nodes a build needs. Without an explicit device list, the
    devices the tensor split spans (or one) are assumed to be 0..n-1."""
    indices = tuple(visible) or tuple(range(max(1, n_split)))
    if build == "cuda":
        nodes = tuple(f"/dev/nvidia{i}" for i in indices)
        return "nvidia", nodes + ("/dev/nvidiactl", "/dev/nvidia-uvm")
    if build == "rocm":
        # DRM render nodes start at minor 128, one per GPU in probe order.
        return "amd", ("/dev/kfd",) + tuple(f"/dev/dri/renderD{128 + i}" for i in indices)
    if build in ("vulkan", "intel"):
        vendor = "intel" if build == "intel" else None
        return vendor, tuple(f"/dev/dri/renderD{128 + i}" for i in indices)
    return None, ()


def _memory_limit(plan: Plan) -> int | None:
    """A generous host-memory ceiling for containers: 1.5x the planned host-side
    use plus 1 GiB (mmapped weights count against a cgroup's page cache)."""
    host = [m for m in plan.memory if m.device in ("cpu", "unified")]
    if not host:
        return None
    planned = sum(m.total_bytes for m in host)
    return int(planned * 1.5) + (1 << 30)
