"""The Docker supervisor: the rendered service in a hardened container.

Everything goes through the Docker SDK (imported lazily); the docker CLI is
never run. The engine keeps the server alive (restart policy
``unless-stopped``: a crashed server is restarted, and the containers come
back after a dockerd restart).

Layout of one deployment on port P::

    aistack-pod-P       holder ("pod"): owns the network namespace and the
                        published port, runs only ``sleep infinity``
    aistack-<deployid>  the server; joins the pod's namespace and listens
                        on P with SO_REUSEPORT (llama-server --reuse-port)

Swaps (a changed plan, an upgrade) overlap: the new server joins the same pod
and listens on the same port beside the old one, then the old one is
removed, so the published port never has nobody behind it. Because two
servers in one namespace cannot be told apart through the shared port, the
new spec is first proved on its own: a throw-away "verify" container in its
own namespace, published on a random loopback port, must answer /health and
a real chat completion before anything touches the pod (``_prove``). If it
cannot, it is removed and the old server keeps serving untouched.

Hardening by default: a fixed non-root user (65534:65534), all capabilities
dropped, no-new-privileges, read-only root filesystem with a tmpfs /tmp,
read-only model mounts, port published on 127.0.0.1 unless the spec binds
beyond loopback, pids and memory limits, and the API key as a per-deployment
copy (mode 0400, owned by the container user) passed by path, so the key is
never in argv or env and never in ``docker inspect``.

Mounts: every ``ServiceSpec.mounts`` entry appears inside the container under
``/aistack`` + its target (``/root/m.gguf`` -> ``/aistack/root/m.gguf``), and
arguments naming a mounted path are rewritten to match. Mounting at exactly the
host path fails for root's files: images keep ``/root`` at mode 0700, which the
non-root container user cannot traverse.

Containers carry ``io.aistack.*`` labels; aistack never touches a container
without ``io.aistack.managed=true`` and refuses to start when a foreign
container holds one of its names.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from aistack.errors import DeployError, InstallError
from aistack.health import chat_check, health_timeout_s, http_get, read_key
from aistack.paths import dirs, ensure_dir
from aistack.service import ServiceSpec
from aistack.supervisors.base import Handle, ServiceState

NAME = "docker"

LABEL_MANAGED = "io.aistack.managed"
LABEL_DEPLOYMENT = "io.aistack.deployment"
LABEL_PLAN = "io.aistack.plan"
LABEL_ROLE = "io.aistack.role"  # "server", "pod", "verify"
LABEL_POD = "io.aistack.pod"  # on servers: the pod they joined
LABEL_PORT = "io.aistack.port"  # the planned (published) port

# The container user: "nobody" on Debian/Ubuntu images. A fixed uid means
# files we hand to the container (the API key copy) can be chowned to it.
CONTAINER_UID = 65534
CONTAINER_GID = 65534
CONTAINER_PREFIX = "/aistack"  # where host mounts appear inside the container
PIDS_LIMIT = 512  # llama-server: compute threads + HTTP threads, with room
TMPFS_SIZE = "64m"
STOP_TIMEOUT_S = 10
LOOPBACK = ("127.0.0.1", "localhost", "::1")

# A container healthcheck that needs only bash (present in the official
# llama.cpp images and in our test image), not curl: an HTTP/1.0 GET through
# bash's /dev/tcp, healthy on a 200 status line. AISTACK_DOCKER_HEALTHCHECK
# replaces it with a shell command of your own ({port} and {path} are filled
# in), or "none" to run without one.
HEALTHCHECK_BASH = (
    "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 "
    "&& read -r status <&3 && [[ $status == *' 200 '* ]]"
)

# llama-server prints this once the model is loaded and it serves (older
# builds: "server is listening on", newer: "listening on").
READY_LOG = re.compile(rb"listening on")

Progress = Callable[[str], None]


def _stderr_progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _docker():
    import docker  # lazy: the SDK (and requests) cost ~100 ms to import

    return docker


class DockerSupervisor:
    name = NAME
    runs_in_container = True

    def __init__(self, progress: Progress | None = None, client: Any = None):
        self._client = client
        self.progress = progress or _stderr_progress

    # --- engine ------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            docker = _docker()
            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except docker.errors.DockerException as exc:
                self._client = None
                raise DeployError(
                    f"No Docker engine answers ({_short(exc)}). Nothing was started or changed.",
                    hint="Start it (systemctl start docker, or scripts/start-dockerd.sh), "
                    "or use another runtime: aistack up --runtime embedded",
                ) from None
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            self.client
        except DeployError as exc:
            return False, exc.message
        except ImportError:
            return False, "the docker Python package is not installed (pip install docker)"
        return True, ""

    # --- the seam ----------------------------------------------------------

    def preflight(self, spec: ServiceSpec) -> None:
        """The image is here, or is pulled now: before any running deployment is touched."""
        if not spec.image:
            raise DeployError(
                f"The {spec.backend} service has no container image for this build. Nothing was started.",
                hint="Set one with AISTACK_IMAGE_<BUILD> (e.g. AISTACK_IMAGE_CPU), or use --runtime embedded.",
            )
        self._ensure_image(spec.image)

    def start(self, spec: ServiceSpec, deployment_id: str) -> Handle:
        self.preflight(spec)
        gpu = self._gpu_options(spec)
        name = f"{spec.name}-{deployment_id}"
        pod_name = _pod_name(spec)
        self._refuse_foreign(name)
        self._refuse_foreign(pod_name)
        self._refuse_foreign(name + "-verify")

        key_copy = self._key_copy(spec, deployment_id)
        pod = self._find(pod_name)
        if pod is not None and pod.status == "running" and self._servers_in(pod_name, running=True):
            # Another aistack server already serves this port: prove the new
            # spec alone first, so the shared port never ends up with a broken
            # server behind it.
            try:
                self._prove(spec, deployment_id, key_copy, gpu)
            except DeployError:
                self._remove_key_copy(deployment_id)
                raise
        if pod is None or pod.status != "running":
            if pod is not None:
                pod.remove(force=True)
            pod = self._start_pod(spec, pod_name)

        kwargs = self._run_kwargs(spec, deployment_id, key_copy, gpu, role="server")
        kwargs["labels"][LABEL_POD] = pod_name
        kwargs["network_mode"] = f"container:{pod.id}"
        ctr = self._run(name, kwargs, deployment_id, pod_name)
        handle = Handle(
            supervisor=NAME,
            deployment_id=deployment_id,
            data={"container_id": ctr.id, "container_name": name, "pod_id": pod.id, "pod_name": pod_name, "image": spec.image},
        )
        if len(self._servers_in(pod_name, running=True)) > 1:
            # Overlap: wait until the newcomer itself has loaded its model
            # (its own log), so the caller's check through the shared port and
            # the removal of the old server come after it can take traffic.
            why = self._wait_ready_log(ctr, _health_timeout_s(spec))
            if why:
                tail = _tail(ctr, 20)
                self.stop(handle)
                raise DeployError(
                    f"The new container {name} did not come up beside the serving one: {why}. "
                    "The previous deployment kept serving and was not changed."
                    + (f"\nLast lines of its log:\n{tail}" if tail else ""),
                    hint="Fix the cause (see the log above), then run 'aistack up' again.",
                    details={"reason": "unhealthy", "why": why, "deployment_id": deployment_id},
                )
        return handle

    def stop(self, handle: Handle) -> None:
        docker = _docker()
        ctr = self._container(handle)
        if ctr is not None:
            _remove(ctr, docker)
        for extra in (handle.data.get("container_name", "") + "-verify",):
            leftover = self._find(extra)
            if leftover is not None:
                _remove(leftover, docker)
        self._remove_key_copy(handle.deployment_id)
        pod_name = handle.data.get("pod_name")
        if pod_name and not self._servers_in(pod_name, running=False):
            pod = self._find(pod_name)
            if pod is not None:
                _remove(pod, docker)

    def state(self, handle: Handle) -> ServiceState:
        try:
            ctr = self._container(handle)
        except DeployError as exc:
            return ServiceState(running=False, detail=f"engine unreachable: {exc.message}")
        if ctr is None:
            return ServiceState(running=False, detail="removed")
        st = ctr.attrs.get("State", {})
        status = st.get("Status", "unknown")
        health = (st.get("Health") or {}).get("Status")
        detail = status if status != "running" or not health else f"running ({health})"
        return ServiceState(
            running=bool(st.get("Running")) and not st.get("Restarting"),
            pid=st.get("Pid") or None,
            started_at=_epoch(st.get("StartedAt")),
            restarts=int(ctr.attrs.get("RestartCount") or 0),
            detail=detail,
        )

    def logs(self, handle: Handle, lines: int, follow: bool) -> Iterator[str]:
        ctr = self._container(handle)
        if ctr is None:
            return iter(())
        if not follow:
            raw = ctr.logs(tail=lines if lines > 0 else "all")
            return iter(raw.decode(errors="replace").splitlines())
        return _split_stream(ctr.logs(stream=True, follow=True, tail=lines if lines > 0 else "all"))

    def can_overlap(self, old: Handle, new_spec: ServiceSpec) -> bool:
        """Yes when the new server can join the old one's pod (same published
        address and port), or when it needs a port nobody uses. No when the
        same port would be published on a different address: the old pod holds
        the port, so the old deployment must go first."""
        if old.supervisor != NAME:
            return False
        old_pod = old.data.get("pod_name")
        new_pod = _pod_name(new_spec)
        if old_pod == new_pod:
            pod = self._find(new_pod)
            return pod is not None and pod.status == "running"
        old_port = _port_of_pod(old_pod)
        return old_port is None or old_port != new_spec.port

    # --- helpers: containers -------------------------------------------------

    def _find(self, name: str):
        docker = _docker()
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _container(self, handle: Handle):
        for key in ("container_id", "container_name"):
            ref = handle.data.get(key)
            if not ref:
                continue
            ctr = self._find(ref)
            if ctr is not None:
                if ctr.labels.get(LABEL_MANAGED) != "true":
                    raise DeployError(
                        f"Container {ctr.name} is not an aistack container; it was left alone.",
                        hint="Remove or rename it yourself if it is in the way.",
                    )
                return ctr
        return None

    def _refuse_foreign(self, name: str) -> None:
        ctr = self._find(name)
        if ctr is not None and ctr.labels.get(LABEL_MANAGED) != "true":
            raise DeployError(
                f"A container named '{name}' exists and was not created by aistack "
                f"(no {LABEL_MANAGED}=true label). It was not touched, and nothing was started.",
                hint=f"Rename or remove it yourself (docker rm -f {name}), or choose another port with --port.",
                details={"reason": "foreign-container", "name": name},
            )

    def _servers_in(self, pod_name: str, running: bool) -> list:
        return self.client.containers.list(
            all=not running,
            filters={"label": [f"{LABEL_MANAGED}=true", f"{LABEL_ROLE}=server", f"{LABEL_POD}={pod_name}"]},
        )

    def _start_pod(self, spec: ServiceSpec, pod_name: str):
        publish_ip = _publish_ip(spec.host)
        kwargs: dict[str, Any] = dict(
            image=spec.image,
            entrypoint=["sleep"],
            command=["infinity"],
            user=f"{CONTAINER_UID}:{CONTAINER_GID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            pids_limit=16,
            mem_limit=32 * 1024 * 1024,
            restart_policy={"Name": "unless-stopped"},
            ports={f"{spec.port}/tcp": (publish_ip, spec.port)},
            labels={LABEL_MANAGED: "true", LABEL_ROLE: "pod", LABEL_PORT: str(spec.port)},
        )
        if ":" in publish_ip or spec.host == "::":
            kwargs["ports"] = {f"{spec.port}/tcp": [(publish_ip, spec.port)]}
        try:
            return self.client.containers.run(name=pod_name, detach=True, **kwargs)
        except _docker().errors.APIError as exc:
            leftover = self._find(pod_name)
            if leftover is not None:
                leftover.remove(force=True)
            raise DeployError(
                f"Could not publish port {spec.port} on {publish_ip}: {_short(exc)}. Nothing was started.",
                hint=f"Free the port, or choose another: aistack up --port {spec.port + 1}",
                details={"reason": "port-in-use", "port": spec.port},
            ) from None

    def _run_kwargs(self, spec: ServiceSpec, deployment_id: str, key_copy: Path | None, gpu: dict, role: str) -> dict:
        docker = _docker()
        mounts = []
        for m in spec.mounts:
            source = m.source
            if spec.api_key_file and m.source == spec.api_key_file and key_copy is not None:
                source = str(key_copy)
            mounts.append(docker.types.Mount(_inside(m.target), source, type="bind", read_only=m.read_only))
        if key_copy is not None and not any(m.source == spec.api_key_file for m in spec.mounts):
            mounts.append(docker.types.Mount(_inside(spec.api_key_file), str(key_copy), type="bind", read_only=True))
        targets = [m.target for m in spec.mounts] + ([spec.api_key_file] if spec.api_key_file else [])
        kwargs: dict[str, Any] = dict(
            image=spec.image,
            entrypoint=list(spec.image_entrypoint) or None,
            command=container_args(spec, targets),
            environment=dict(spec.env),
            user=f"{CONTAINER_UID}:{CONTAINER_GID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,size={TMPFS_SIZE}"},
            mounts=mounts,
            pids_limit=PIDS_LIMIT,
            restart_policy={"Name": "unless-stopped"},
            labels={
                LABEL_MANAGED: "true",
                LABEL_ROLE: role,
                LABEL_DEPLOYMENT: deployment_id,
                LABEL_PLAN: spec.plan_fingerprint,
                LABEL_PORT: str(spec.port),
                "io.aistack.model": spec.model_id,
            },
            stop_signal="SIGTERM",
        )
        if spec.memory_limit_bytes:
            kwargs["mem_limit"] = int(spec.memory_limit_bytes)
            kwargs["memswap_limit"] = int(spec.memory_limit_bytes)  # no swap on top
        healthcheck = _healthcheck(spec)
        if healthcheck is not None:
            kwargs["healthcheck"] = healthcheck
        kwargs.update(gpu)
        return kwargs

    # --- helpers: the overlap ------------------------------------------------

    def _run(self, name: str, kwargs: dict, deployment_id: str, pod_name: str | None):
        """``containers.run``; an engine refusal (bad image entrypoint, device,
        limit) removes what was created and becomes a DeployError."""
        docker = _docker()
        try:
            return self.client.containers.run(name=name, detach=True, **kwargs)
        except docker.errors.APIError as exc:
            leftover = self._find(name)
            if leftover is not None:
                _remove(leftover, docker, graceful=False)
            self._remove_key_copy(deployment_id)
            if pod_name and not self._servers_in(pod_name, running=False):
                pod = self._find(pod_name)
                if pod is not None:
                    _remove(pod, docker, graceful=False)
            raise DeployError(
                f"Docker could not start the container {name}: {_short(exc)}. "
                "Anything already serving was left as it was.",
                hint="Check the image (AISTACK_IMAGE_<BUILD>) and the devices the plan needs, "
                "then run 'aistack up' again.",
                details={"reason": "container-start-failed", "name": name},
            ) from None

    def _prove(self, spec: ServiceSpec, deployment_id: str, key_copy: Path | None, gpu: dict) -> None:
        """Run the new spec alone (own network namespace, random loopback port)
        and require /health 200 plus a real chat completion; always remove it."""
        docker = _docker()
        name = f"{spec.name}-{deployment_id}-verify"
        kwargs = self._run_kwargs(spec, deployment_id, key_copy, gpu, role="verify")
        kwargs["restart_policy"] = {"Name": "no"}
        kwargs.pop("healthcheck", None)
        kwargs["ports"] = {f"{spec.port}/tcp": ("127.0.0.1", None)}
        self.progress(f"checking the new server on its own before it joins the serving one ({name})")
        ctr = self._run(name, kwargs, deployment_id, None)
        try:
            why = self._prove_http(ctr, spec)
            if why:
                tail = _tail(ctr, 20)
                raise DeployError(
                    f"The new server did not pass its check ({why}). "
                    "The previous deployment kept serving and was not changed."
                    + (f"\nLast lines of its log:\n{tail}" if tail else ""),
                    hint="Fix the cause (see the log above), then run 'aistack up' again.",
                    details={"reason": "unhealthy", "why": why, "deployment_id": deployment_id},
                )
        finally:
            _remove(ctr, docker)

    def _prove_http(self, ctr, spec: ServiceSpec) -> str | None:
        deadline = time.monotonic() + _health_timeout_s(spec)
        base = None
        while time.monotonic() < deadline:
            ctr.reload()
            if ctr.status in ("exited", "dead"):
                return f"it exited with code {ctr.attrs['State'].get('ExitCode')}"
            if base is None:
                bindings = (ctr.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{spec.port}/tcp")
                if bindings:
                    base = f"http://127.0.0.1:{bindings[0]['HostPort']}"
            if base is not None:
                status, _ = http_get(base + spec.health_path, timeout=2.0)
                if status == 200:
                    return chat_check(spec, read_key(spec.api_key_file), base_url=base)
            time.sleep(0.05)
        return f"no healthy answer within {_health_timeout_s(spec):.0f}s"

    def _wait_ready_log(self, ctr, timeout_s: float) -> str | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ctr.reload()
            if ctr.attrs.get("RestartCount") or ctr.status in ("exited", "dead"):
                return f"it exited (code {ctr.attrs['State'].get('ExitCode')})"
            if READY_LOG.search(ctr.logs(tail=200)):
                return None
            time.sleep(0.02)
        return f"it did not finish loading within {timeout_s:.0f}s"

    # --- helpers: image, GPUs, key ------------------------------------------

    def _ensure_image(self, image: str) -> None:
        docker = _docker()
        try:
            self.client.images.get(image)
            return
        except docker.errors.ImageNotFound:
            pass
        self.progress(f"pulling {image} (first use of this image)")
        repo, tag = _split_ref(image)
        last: dict[str, str] = {}
        shown = 0.0
        try:
            for ev in self.client.api.pull(repo, tag=tag, stream=True, decode=True):
                if "error" in ev:
                    raise docker.errors.APIError(ev["error"])
                if ev.get("id") and ev.get("status"):
                    detail = ev.get("progress") or ""
                    last[ev["id"]] = f"{ev['status']} {detail}".strip()
                now = time.monotonic()
                if now - shown > 1.0 and last:
                    shown = now
                    done = sum(1 for s in last.values() if s.startswith(("Pull complete", "Already exists")))
                    self.progress(f"  {image}: {done}/{len(last)} layers done")
        except docker.errors.DockerException as exc:
            message, hint = _pull_failure(image, exc)
            raise InstallError(message, hint=hint, details={"reason": "pull-failed", "image": image}) from None
        self.progress(f"pulled {image}")

    def _gpu_options(self, spec: ServiceSpec) -> dict:
        vendor = spec.gpu_vendor
        if vendor == "nvidia":
            runtimes = (self.client.info().get("Runtimes") or {}).keys()
            if "nvidia" not in runtimes:
                raise DeployError(
                    "The plan uses NVIDIA GPUs, but this Docker engine has no NVIDIA runtime "
                    "(the NVIDIA Container Toolkit is not installed or not configured). "
                    "Nothing was started; aistack does not fall back to CPU silently.",
                    hint="Install the NVIDIA Container Toolkit (package nvidia-container-toolkit), run "
                    "'nvidia-ctk runtime configure --runtime=docker' and restart Docker; "
                    "or run without containers: aistack up --runtime embedded",
                    details={"reason": "no-nvidia-runtime", "runtimes": sorted(runtimes)},
                )
            ids = [str(i) for i in spec.visible_devices]
            req = _docker().types.DeviceRequest(
                driver="nvidia",
                device_ids=ids or None,
                count=None if ids else -1,
                capabilities=[["gpu"]],
            )
            # The toolkit maps the chosen GPUs itself; the device nodes are not bound by hand.
            return {"device_requests": [req]}
        if vendor in ("amd", "intel") or spec.devices:
            devices = list(spec.devices)
            if vendor == "amd" and "/dev/kfd" not in devices:
                devices.insert(0, "/dev/kfd")
            missing = [d for d in devices if not os.path.exists(d)]
            if missing:
                raise DeployError(
                    f"The plan needs GPU device nodes that do not exist here: {', '.join(missing)}. Nothing was started.",
                    hint="Check the GPU driver (amdgpu / i915 / xe) is loaded, or re-plan: aistack plan",
                )
            # The device nodes belong to groups (video, render); the container
            # user gets those group ids, not names, since the image may lack them.
            groups = sorted({os.stat(d).st_gid for d in devices} - {0})
            out: dict[str, Any] = {"devices": [f"{d}:{d}:rwm" for d in devices]}
            if groups:
                out["group_add"] = [str(g) for g in groups]
            return out
        return {}

    def _key_dir(self, deployment_id: str) -> Path:
        return dirs().state / "docker" / deployment_id

    def _key_copy(self, spec: ServiceSpec, deployment_id: str) -> Path | None:
        """A copy of the API key the container user can read (0400, owned by it)."""
        if not spec.api_key_file:
            return None
        d = ensure_dir(self._key_dir(deployment_id), 0o700)
        dest = d / "api-key"
        data = Path(spec.api_key_file).read_bytes()
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o400)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(dest, 0o400)
        if os.geteuid() == 0:
            os.chown(dest, CONTAINER_UID, CONTAINER_GID)
        return dest

    def _remove_key_copy(self, deployment_id: str) -> None:
        shutil.rmtree(self._key_dir(deployment_id), ignore_errors=True)


# --- pure helpers ----------------------------------------------------------------


def _inside(host_path: str) -> str:
    return CONTAINER_PREFIX + "/" + host_path.lstrip("/")


def container_args(spec: ServiceSpec, mounted: list[str]) -> list[str]:
    """The server's arguments as the container needs them.

    * paths under a mount point the prefixed path inside the container;
    * ``--host``: 0.0.0.0, because inside its own network namespace the server
      must accept the traffic Docker forwards from the published port (the
      published address, 127.0.0.1 by default, decides who can reach it);
    * ``--reuse-port``: so a new server can listen beside the old one in the
      same pod during a swap.
    """
    roots = sorted({m.rstrip("/") for m in mounted if m}, key=len, reverse=True)

    def rewrite(value: str) -> str:
        for root in roots:
            if value == root or value.startswith(root + "/"):
                return _inside(value)
        return value

    out: list[str] = []
    args = list(spec.args)
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--host" and i + 1 < len(args):
            out += ["--host", "0.0.0.0"]
            i += 2
            continue
        if a.startswith("--host="):
            out.append("--host=0.0.0.0")
        elif a.startswith("-") and "=" in a:
            flag, _, value = a.partition("=")
            out.append(f"{flag}={rewrite(value)}")
        else:
            out.append(rewrite(a))
        i += 1
    if not any(a == "--host" or a.startswith("--host=") for a in out):
        out += ["--host", "0.0.0.0"]
    if "--reuse-port" not in out:
        out.append("--reuse-port")
    return out


def _publish_ip(host: str) -> str:
    if host in ("127.0.0.1", "localhost", ""):
        return "127.0.0.1"
    if host == "::1":
        return "::1"
    if host == "::":
        return "::"
    return host  # 0.0.0.0 or a specific address: published there, as planned


def _pod_name(spec: ServiceSpec) -> str:
    return f"{spec.name}-pod-{spec.port}"


def _port_of_pod(pod_name: str | None) -> int | None:
    if not pod_name:
        return None
    tail = pod_name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _healthcheck(spec: ServiceSpec) -> dict | None:
    custom = os.environ.get("AISTACK_DOCKER_HEALTHCHECK")
    if custom and custom.strip().lower() == "none":
        return None
    template = custom or HEALTHCHECK_BASH
    cmd = template.format(port=spec.port, path=spec.health_path)
    shell = "/bin/sh" if custom else "/bin/bash"
    ns = 1_000_000_000
    return {
        "test": ["CMD", shell, "-c", cmd],
        "interval": 10 * ns,
        "timeout": 5 * ns,
        "retries": 3,
        "start_period": int(_health_timeout_s(spec)) * ns,
    }


def _health_timeout_s(spec: ServiceSpec) -> float:
    size = 0
    for m in spec.mounts:
        try:
            size += os.path.getsize(m.source)
        except OSError:
            pass
    return health_timeout_s(size)


def _remove(ctr, docker, graceful: bool = True) -> None:
    """Stop (SIGTERM, then SIGKILL after STOP_TIMEOUT_S) and remove; gone already is fine."""
    try:
        if graceful and ctr.status in ("running", "restarting"):
            ctr.stop(timeout=STOP_TIMEOUT_S)
        ctr.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def _tail(ctr, lines: int) -> str:
    try:
        raw = ctr.logs(tail=lines)
    except Exception:  # the container may be gone already
        return ""
    return "\n".join("    " + line for line in raw.decode(errors="replace").splitlines())


def _split_stream(chunks) -> Iterator[str]:
    buf = b""
    for chunk in chunks:
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode(errors="replace")
    if buf:
        yield buf.decode(errors="replace")


def _epoch(iso: str | None) -> float | None:
    if not iso or iso.startswith("0001-"):
        return None
    from datetime import datetime

    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", iso)
    if not m:
        return None
    frac = (m.group(2) or "")[:7]
    tz = m.group(3) or "Z"
    text = m.group(1) + frac + ("+00:00" if tz == "Z" else tz)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _split_ref(image: str) -> tuple[str, str | None]:
    if "@" in image:
        repo, digest = image.split("@", 1)
        return repo, digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = image.rsplit(":", 1)
        return repo, tag
    return image, "latest"


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _pull_failure(image: str, exc: BaseException) -> tuple[str, str]:
    text = _short(exc)
    low = text.lower()
    if "manifest unknown" in low or "not found" in low or "does not exist" in low:
        why, hint = "no such image or tag", "Check the name and tag, or point aistack at another image with AISTACK_IMAGE_<BUILD>."
    elif "unauthorized" in low or "denied" in low or "authentication" in low:
        why, hint = "the registry refused access (authentication)", "Log in to the registry (docker login <registry>) and run the command again."
    elif any(s in low for s in ("timeout", "no such host", "dial tcp", "connection refused", "network is unreachable", "temporary failure")):
        why, hint = "the registry could not be reached (no network?)", (
            "Check the network or proxy, or load the image from a file (docker load -i ...) and run the command again."
        )
    else:
        why, hint = "the pull failed", "Pull it by hand to see the engine's full message (docker pull " + image + ")."
    return f"Could not pull {image}: {why} ({text}). Nothing was started.", hint
