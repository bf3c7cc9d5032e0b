"""The deploy pipeline: one core function per command, for any supervisor.

``up``     probe -> plan -> fetch (falling back past unreachable artifacts) ->
           validate -> install -> API key -> render -> deploy -> verify ->
           record. A deployment that does not become healthy is stopped and
           the previous one is brought back; the state file is left as it was.
``down``   stop what is deployed and clear it from the state file.
``status`` what is deployed, whether it runs and answers, and how fast.
``logs``   the server's log lines (optionally following).

Nothing here knows which backend or supervisor is in use: backends come from
``aistack.backends.registry``, supervisors from ``aistack.supervisors.registry``,
and they meet in the rendered ``ServiceSpec``. Results are plain frozen values
for ``aistack.output.emit``.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from aistack import state as state_file
from aistack.health import chat_check, health, health_timeout_s, http_get, parse_metrics, read_key as _read_key, verify, wait_healthy
from aistack.errors import (
    AistackError,
    DeployError,
    FetchError,
    NotDeployedError,
    UnsatisfiableError,
    UsageError,
)
from aistack.paths import dirs, ensure_dir
from aistack.service import ServiceSpec
from aistack.supervisors.base import Handle, ServiceState, Supervisor

Progress = Callable[[str], None]

DEFAULT_LOCK_WAIT_S = 5.0
HISTORY_LIMIT = 20


def _quiet(_msg: str) -> None:
    pass


# --------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class UpResult:
    changed: bool  # False: the same plan was already serving; nothing was touched
    deployment_id: str
    model_id: str
    quant: str
    backend: str
    build: str
    supervisor: str
    endpoint: str  # OpenAI base URL, e.g. http://127.0.0.1:8080/v1
    api_key_file: str | None
    curl: str
    pid: int | None
    restarts: int
    log_file: str | None
    fallbacks: tuple[str, ...] = ()  # artifacts that could not be fetched, and what was used instead
    replaced: str | None = None  # deployment id this one replaced
    timings_s: dict[str, float] = field(default_factory=dict)
    foreground: bool = False


@dataclass(frozen=True)
class DownResult:
    stopped: bool
    deployment_id: str | None
    supervisor: str | None
    endpoint: str | None


@dataclass(frozen=True)
class StatusResult:
    deployment_id: str
    supervisor: str
    model_id: str
    quant: str
    backend: str
    build: str
    endpoint: str
    health: str  # "ok", "loading", "unreachable", "error <code>"
    running: bool
    pid: int | None
    uptime_s: float | None
    restarts: int
    detail: str
    api_key_file: str | None
    log_file: str | None
    deployed_at: float
    plan_fingerprint: str
    decode_tps: float | None = None  # live, from the server's /metrics
    prompt_tps: float | None = None
    requests_processing: int | None = None


# --------------------------------------------------------------------------
# small pieces (each testable on its own)


def new_deployment_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on ``host:port`` (we try to bind it)."""
    bind_host = "" if host in ("0.0.0.0", "::") else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((bind_host, port))
        except OSError:
            return True
    return False


def api_key_path() -> Path:
    return dirs().state / "api_key"


def ensure_api_key() -> Path:
    """The API key file (0600), created with a fresh random key the first time, then reused."""
    path = api_key_path()
    ensure_dir(path.parent, 0o700)
    if path.exists() and path.read_text(encoding="utf-8").strip():
        os.chmod(path, 0o600)
        return path
    key = "sk-aistack-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key + "\n")
    return path


def curl_line(spec: ServiceSpec, api_key_file: str | None) -> str:
    auth = f' -H "Authorization: Bearer $(cat {api_key_file})"' if api_key_file else ""
    body = '{"messages":[{"role":"user","content":"Hello!"}]}'
    return (
        f"curl -s {spec.base_url}/v1/chat/completions -H 'Content-Type: application/json'{auth} -d '{body}'"
    )


# --------------------------------------------------------------------------
# state records


def _handle_from(rec: Mapping[str, Any]) -> Handle:
    h = rec["handle"]
    return Handle(supervisor=h["supervisor"], deployment_id=h["deployment_id"], data=dict(h.get("data") or {}))


def _spec_from(rec: Mapping[str, Any]) -> ServiceSpec:
    return ServiceSpec.from_dict(rec["spec"])


def _handle_dict(handle: Handle) -> dict[str, Any]:
    return {"supervisor": handle.supervisor, "deployment_id": handle.deployment_id, "data": dict(handle.data)}


def _supervisor_for(rec: Mapping[str, Any]) -> Supervisor:
    from aistack.supervisors.registry import get_supervisor

    return get_supervisor(rec["handle"]["supervisor"])


def _endpoint(spec: ServiceSpec) -> str:
    return spec.base_url + "/v1"


def _history_entry(rec: Mapping[str, Any], ended: str) -> dict[str, Any]:
    return {
        "deployment_id": rec.get("deployment_id"),
        "model_id": rec.get("spec", {}).get("model_id"),
        "supervisor": rec.get("handle", {}).get("supervisor"),
        "deployed_at": rec.get("deployed_at"),
        "ended_at": time.time(),
        "ended": ended,
    }


def _with_history(data: dict[str, Any], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return (list(data.get("history") or []) + [entry])[-HISTORY_LIMIT:]


# --------------------------------------------------------------------------
# up


def _plan_for(flags: Mapping[str, Any], hardware: str | None, environ: Mapping[str, str]):
    """The same inputs ``aistack plan`` uses: profile, catalog, request."""
    from aistack.catalog import load_catalog
    from aistack.hardware.summary import get_profile
    from aistack.plan.resolve import build_request
    from aistack.config import load_config

    profile = get_profile(hardware)
    catalog = load_catalog()
    request = build_request(flags, environ, load_config())
    return profile, catalog, request


def _make_plan(profile, catalog, request, unavailable: frozenset[str]):
    from aistack.plan.run import plan_exact

    return plan_exact(profile, catalog, request, unavailable)


def _obtain(ref, progress: Progress, fetch_progress) -> Path:
    from aistack import store

    found = store.locate(ref)
    if found is not None:
        return Path(found)
    progress(f"fetching {ref.filename} from {ref.uri}")
    return Path(store.fetch(ref, progress=fetch_progress))


def artifact_origin(uri: str) -> str:
    """Artifacts with the same origin are reachable, or not, together (one hub, one host)."""
    scheme, _, rest = uri.partition("://")
    if scheme in ("hf", "pypi"):
        return scheme
    if scheme in ("http", "https"):
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return uri


def _unreachable_siblings(catalog, uri: str) -> set[str]:
    """Every catalog artifact from ``uri``'s origin that is not already on disk.

    When the hub does not answer for one file it will not answer for the next
    either; skipping them all at once turns N retry cycles into one.
    """
    from aistack import store
    from aistack.plan.model import ArtifactRef

    origin = artifact_origin(uri)
    out = {uri}
    for recipe in catalog.recipes:
        for a in recipe.artifacts:
            if a.uri in out or artifact_origin(a.uri) != origin:
                continue
            ref = ArtifactRef(kind=a.kind, uri=a.uri, filename=a.filename, size_bytes=a.size_bytes, sha256=a.sha256)
            try:
                here = store.locate(ref)
            except AistackError:
                here = None
            if here is None:
                out.add(a.uri)
    return out


def _fetch_with_fallback(profile, catalog, request, first_plan, progress: Progress, fetch_progress):
    """Fetch the plan's artifacts; re-plan without any that cannot be reached.

    Returns ``(plan, model_path, draft_path, fallbacks)``.
    """
    unavailable: set[str] = set()
    fallbacks: list[str] = []
    plan = first_plan
    last_error: FetchError | None = None
    for _ in range(64):
        ref = plan.artifact
        try:
            model_path = _obtain(ref, progress, fetch_progress)
            draft_path = None
            if plan.draft_artifact is not None:
                ref = plan.draft_artifact
                draft_path = str(_obtain(ref, progress, fetch_progress))
        except FetchError as exc:
            if exc.details.get("reason") != "unreachable":
                raise
            last_error = exc
            unavailable |= _unreachable_siblings(catalog, ref.uri)
            what = "draft model" if ref is plan.draft_artifact else f"{plan.model_id} {plan.quant}"
            fallbacks.append(f"{what}: {ref.uri} could not be reached")
            progress(f"{ref.uri} could not be reached; choosing a model that can be obtained")
            try:
                plan = _make_plan(profile, catalog, request, frozenset(unavailable))
            except UnsatisfiableError as unsat:
                raise FetchError(
                    f"{exc.message} No other model that fits this machine could be obtained either "
                    f"({unsat.message}).",
                    hint=exc.hint
                    or "Check the network (or HF_ENDPOINT / the mirror), or pull a model with "
                    "'aistack models pull', then run 'aistack up' again. Nothing was changed.",
                    details={**exc.details, "unavailable": sorted(unavailable)},
                ) from None
            continue
        if fallbacks:
            fallbacks.append(f"serving {plan.model_id} {plan.quant} instead")
        return plan, model_path, draft_path, tuple(fallbacks)
    raise last_error or FetchError("Could not obtain any model artifact.")


def _prepare_service(plan, profile, model_path: str, draft_path: str | None, key_file: str | None, progress: Progress, fallbacks: list[str]):
    """Install the backend in the form the supervisor runs it, render, preflight.

    Returns ``(plan, supervisor, installed, spec)``. A supervisor the planner
    chose on its own ("auto") that cannot run this service here (its engine
    does not answer, its image cannot be pulled) gives way to the embedded
    supervisor, and ``fallbacks`` says so; an explicitly requested one fails.
    Nothing running is touched here.
    """
    from aistack.backends.registry import get_backend
    from aistack.supervisors.registry import get_supervisor

    backend = get_backend(plan.backend)
    while True:
        sup = get_supervisor(plan.supervisor)
        try:
            ok, why = sup.available()
            if not ok:
                raise DeployError(
                    f"The {plan.supervisor} runtime cannot be used here: {why}. Nothing was changed.",
                    hint="Choose another with --runtime (embedded needs nothing).",
                )
            if sup.runs_in_container:
                installed = backend.install_image(plan)
                spec = _render(plan, installed, model_path, draft_path, key_file)
                sup.preflight(spec)
                return plan, sup, installed, spec
        except AistackError as exc:
            if _setting_source(plan, "supervisor") != "auto" or plan.supervisor == "embedded":
                raise
            fallbacks.append(f"{plan.supervisor} runtime: {exc.message}")
            progress(f"the {plan.supervisor} runtime cannot serve this ({exc.message}); using the embedded supervisor")
            plan = _with_supervisor(plan, "embedded", f"auto: {plan.supervisor} could not be used")
            continue
        installed = backend.install(plan, profile, progress)
        spec = _render(plan, installed, model_path, draft_path, key_file)
        sup.preflight(spec)
        return plan, sup, installed, spec


def _setting_source(plan, name: str) -> str | None:
    return next((s.source for s in plan.settings if s.name == name), None)


def _with_supervisor(plan, supervisor: str, note: str):
    from dataclasses import replace

    settings = tuple(
        replace(s, value=supervisor, note=note) if s.name == "supervisor" else s for s in plan.settings
    )
    return replace(plan, supervisor=supervisor, settings=settings)


def _validate_models(*paths: str | None) -> None:
    from aistack.gguf import validate_file

    for p in paths:
        if p and p.endswith(".gguf"):
            try:
                validate_file(p, layout_cache=dirs().gguf_layouts)
            except AistackError as exc:
                raise type(exc)(
                    f"{exc.message} The server was not started; nothing was changed.",
                    hint=exc.hint or f"Remove the file ('aistack models rm' or rm {p}) and run 'aistack up' again to fetch it afresh.",
                    details=exc.details,
                ) from None


def _render(plan, installed, model_path: str, draft_path: str | None, api_key_file: str | None) -> ServiceSpec:
    from aistack.backends.base import RenderInputs
    from aistack.backends.registry import get_backend

    backend = get_backend(plan.backend)
    spec = backend.render(
        plan,
        installed,
        RenderInputs(
            model_path=model_path,
            draft_model_path=draft_path,
            api_key_file=api_key_file,
            log_dir=str(dirs().logs),
        ),
    )
    return spec


def _current_serving(current: Mapping[str, Any] | None) -> tuple[bool, ServiceState | None]:
    """Whether the current deployment's service runs (per its supervisor)."""
    if not current:
        return False, None
    try:
        st = _supervisor_for(current).state(_handle_from(current))
    except AistackError:
        return False, None
    return st.running, st


def _unchanged(current: Mapping[str, Any], plan, request_plan_fp: str) -> UpResult | None:
    """The fast path: same plan, same rendered spec, running and healthy -> touch nothing."""
    if current.get("plan_fingerprint") != request_plan_fp:
        return None
    spec = _spec_from(current)
    if not Path(spec.executable).exists() and current["handle"]["supervisor"] != "docker":
        return None
    model_path = current.get("artifacts", {}).get("model")
    if not model_path or not Path(model_path).exists():
        return None
    from aistack.backends.base import InstalledBackend
    from aistack import values

    installed = values.from_dict(InstalledBackend, current["installed"])
    try:
        again = _render(
            plan, installed, model_path, current.get("artifacts", {}).get("draft"), current.get("api_key_file")
        )
    except AistackError:
        return None
    if again.fingerprint() != current.get("spec_fingerprint"):
        return None
    running, st = _current_serving(current)
    if not running or st is None:
        return None
    if health(spec) != "ok":
        return None
    return _up_result(current, spec, st, changed=False)


def _up_result(rec: Mapping[str, Any], spec: ServiceSpec, st: ServiceState | None, *, changed: bool, **extra) -> UpResult:
    plan = rec["plan"]
    handle = rec["handle"]
    return UpResult(
        changed=changed,
        deployment_id=rec["deployment_id"],
        model_id=plan["model_id"],
        quant=plan["quant"],
        backend=plan["backend"],
        build=plan["build"],
        supervisor=handle["supervisor"],
        endpoint=_endpoint(spec),
        api_key_file=rec.get("api_key_file"),
        curl=curl_line(spec, rec.get("api_key_file")),
        pid=st.pid if st else None,
        restarts=st.restarts if st else 0,
        log_file=handle.get("data", {}).get("log_file"),
        **extra,
    )


def _refuse_busy_port(plan, current: Mapping[str, Any] | None, current_running: bool) -> None:
    if current and current_running:
        cur = _spec_from(current)
        if cur.port == plan.port:
            return  # it is our own deployment; it is replaced below
    if port_in_use(plan.host, plan.port):
        raise DeployError(
            f"Port {plan.port} on {plan.host} is already in use by another program (not an aistack deployment). "
            "Nothing was started or changed.",
            hint=f"Stop that program, or choose another port: aistack up --port {plan.port + 1}",
            details={"reason": "port-in-use", "host": plan.host, "port": plan.port},
        )


def _record(rec: dict[str, Any]) -> None:
    data = state_file.read()
    old = data.get("current")
    data["previous"] = old if old and old.get("deployment_id") != rec["deployment_id"] else data.get("previous")
    if old and old.get("deployment_id") != rec["deployment_id"]:
        data["history"] = _with_history(data, _history_entry(old, "replaced"))
    data["current"] = rec
    state_file.write(data)


def up(
    flags: Mapping[str, Any],
    *,
    hardware: str | None = None,
    wait_s: float = DEFAULT_LOCK_WAIT_S,
    foreground: bool = False,
    progress: Progress = _quiet,
    fetch_progress: Any = None,
    environ: Mapping[str, str] | None = None,
    on_ready: Callable[[UpResult], None] | None = None,
) -> UpResult:
    """Bring the planned service online (or confirm it already is); see the module docstring.

    ``flags`` are the plan flags as given on the command line (model, quant,
    backend, ctx, purpose, runtime, host, port; None = not given).
    ``foreground`` runs the supervision loop in this process until SIGTERM or
    Ctrl-C and calls ``on_ready`` once the service answers.
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in flags.items() if v is not None}
    if foreground:
        if flags.get("runtime", "embedded") != "embedded":
            raise UsageError(
                "--foreground runs the embedded supervisor in this process; it cannot be combined with "
                f"--runtime {flags['runtime']}.",
                hint="Drop --runtime, or drop --foreground.",
            )
        flags["runtime"] = "embedded"
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    with state_file.locked(wait_seconds=wait_s):
        timings["lock"] = time.monotonic() - t0
        data = state_file.read()
        current = data.get("current")
        profile, catalog, request = _plan_for(flags, hardware, environ)
        plan = _make_plan(profile, catalog, request, frozenset())
        timings["plan"] = time.monotonic() - t0
        if current and not foreground:
            same = _unchanged(current, plan, plan.fingerprint())
            if same is not None:
                timings["total"] = time.monotonic() - t0
                return UpResult(**{**same.__dict__, "timings_s": timings})
        current_running, _ = _current_serving(current)
        _refuse_busy_port(plan, current, current_running)

        plan, model_path, draft_path, fallbacks = _fetch_with_fallback(
            profile, catalog, request, plan, progress, fetch_progress
        )
        timings["fetch"] = time.monotonic() - t0
        if fallbacks and current and not foreground:
            # The fallback may be exactly what already serves (an air-gapped re-run).
            same = _unchanged(current, plan, plan.fingerprint())
            if same is not None:
                timings["total"] = time.monotonic() - t0
                return UpResult(**{**same.__dict__, "fallbacks": fallbacks, "timings_s": timings})
        _validate_models(str(model_path), draft_path)
        key_file = str(ensure_api_key()) if plan.api_key_required else None
        fallbacks = list(fallbacks)
        auto_runtime = plan.supervisor
        plan, sup, installed, spec = _prepare_service(plan, profile, str(model_path), draft_path, key_file, progress, fallbacks)
        fallbacks = tuple(fallbacks)
        timings["install"] = time.monotonic() - t0
        if plan.supervisor != auto_runtime and current and not foreground:
            # The auto-chosen runtime gave way; the embedded one may already serve this plan.
            same = _unchanged(current, plan, plan.fingerprint())
            if same is not None:
                timings["total"] = time.monotonic() - t0
                return UpResult(**{**same.__dict__, "fallbacks": fallbacks, "timings_s": timings})
        from aistack import values

        deployment_id = new_deployment_id()
        rec: dict[str, Any] = {
            "deployment_id": deployment_id,
            "deployed_at": time.time(),
            "plan": plan.to_dict(),
            "plan_fingerprint": plan.fingerprint(),
            "spec": spec.to_dict(),
            "spec_fingerprint": spec.fingerprint(),
            "installed": values.to_dict(installed),
            "artifacts": {"model": str(model_path), "draft": draft_path},
            "api_key_file": key_file,
            "flags": {k: v for k, v in flags.items()},
        }
        timeout = health_timeout_s(plan.artifact.size_bytes or _size(model_path))
        if foreground:
            _retire_for_foreground(current, progress)
        else:
            return _deploy_detached(
                sup, spec, plan, rec, current, current_running, timeout, fallbacks, timings, t0, progress
            )
    # --foreground: the lock is released; the supervision loop runs here until stopped.
    return _up_foreground(sup, spec, rec, timeout, fallbacks, timings, t0, progress, on_ready)


def _deploy_detached(sup, spec, plan, rec, current, current_running, timeout, fallbacks, timings, t0, progress):
    """Start the new service, verify it, record it; roll back on failure. Runs under the lock.

    The new service starts alongside the old one when they do not clash (then
    the old one is stopped only after the new one answers); otherwise the old
    one is stopped first and brought back if the new one fails.
    """
    deployment_id = rec["deployment_id"]
    old_sup = _supervisor_for(current) if current else None
    old_handle = _handle_from(current) if current else None
    overlap = bool(
        current
        and current_running
        and old_sup is not None
        and old_handle is not None
        and old_sup.can_overlap(old_handle, spec)
    )
    if current and not overlap:
        progress(f"stopping the previous deployment {current['deployment_id']}")
        old_sup.stop(old_handle)  # type: ignore[union-attr]
    progress(f"starting {plan.model_id} ({plan.quant}) under the {plan.supervisor} supervisor")
    try:
        handle = sup.start(spec, deployment_id)
    except AistackError as exc:
        restored = _restore_previous(current, current_running, overlap, progress)
        raise type(exc)(f"{exc.message} {restored}", hint=exc.hint, details=exc.details) from None
    timings["start"] = time.monotonic() - t0
    why = wait_healthy(spec, sup, handle, timeout, progress)
    timings["healthy"] = time.monotonic() - t0
    if why is None:
        why = chat_check(spec, _read_key(spec.api_key_file), timeout=max(30.0, timeout / 4))
    timings["verify"] = time.monotonic() - t0
    if why is not None:
        _roll_back(sup, handle, current, current_running, overlap, why, progress)
    rec["handle"] = _handle_dict(handle)
    _record(rec)
    if current and overlap:
        old_sup.stop(old_handle)  # type: ignore[union-attr]
    st = sup.state(handle)
    timings["total"] = time.monotonic() - t0
    return _up_result(
        rec,
        spec,
        st,
        changed=True,
        fallbacks=fallbacks,
        replaced=current["deployment_id"] if current else None,
        timings_s=timings,
    )


def _size(path: Path | str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _restore_previous(
    current: Mapping[str, Any] | None,
    current_was_running: bool,
    overlapped: bool,
    progress: Progress,
) -> str:
    """Bring back the deployment a failed ``up`` stopped; return a sentence saying what is serving now.

    The state file keeps the previous deployment as current (with its new
    handle); only if it cannot be brought back is it cleared.
    """
    if not current:
        return "Nothing else was running, so nothing is deployed now."
    if overlapped:
        return f"The previous deployment {current['deployment_id']} kept serving throughout."
    if not current_was_running:
        return f"The previous deployment {current['deployment_id']} was not running and was left as it was."
    progress(f"rolling back to {current['deployment_id']}")
    old_sup = _supervisor_for(current)
    old_spec = _spec_from(current)
    plan_size = (current.get("plan") or {}).get("artifact", {}).get("size_bytes")
    try:
        old_handle = old_sup.start(old_spec, current["deployment_id"])
        back = wait_healthy(old_spec, old_sup, old_handle, health_timeout_s(plan_size))
    except AistackError as exc:
        old_handle, back = None, exc.message
    fresh = state_file.read()
    if back is None and old_handle is not None:
        fresh["current"] = {**current, "handle": _handle_dict(old_handle)}
        sentence = (
            f"Rolled back: the previous deployment {current['deployment_id']} serves again at {_endpoint(old_spec)}."
        )
    else:
        if old_handle is not None:
            old_sup.stop(old_handle)
        fresh["current"] = None
        fresh["previous"] = current
        fresh["history"] = _with_history(fresh, _history_entry(current, "rollback failed"))
        sentence = f"The previous deployment could not be brought back either ({back}); nothing is deployed now."
    state_file.write(fresh)
    return sentence


def _roll_back(
    sup: Supervisor,
    handle: Handle,
    current: Mapping[str, Any] | None,
    current_was_running: bool,
    overlapped: bool,
    why: str,
    progress: Progress,
) -> None:
    """Stop the failed service, restore the previous one, raise DeployError with the log tail."""
    try:
        tail = list(sup.logs(handle, 20, False))
    except AistackError:
        tail = []
    sup.stop(handle)
    restored = _restore_previous(current, current_was_running, overlapped, progress)
    log = "\n".join("    " + line for line in tail)
    raise DeployError(
        f"The new service did not become healthy: {why}. {restored}"
        + (f"\nLast lines of the server log:\n{log}" if tail else ""),
        hint=(
            f"The failed run's full log is {handle.data['log_file']}; "
            if handle.data.get("log_file")
            else ""
        )
        + "fix the cause, then run 'aistack up' again.",
        details={"reason": "unhealthy", "why": why, "log_tail": tail, "deployment_id": handle.deployment_id},
    )


def _retire_for_foreground(current: Mapping[str, Any] | None, progress: Progress) -> None:
    """Stop the detached deployment a foreground run replaces (there is no rollback in the foreground)."""
    if not current:
        return
    progress(f"stopping the previous deployment {current['deployment_id']}")
    _supervisor_for(current).stop(_handle_from(current))
    data = state_file.read()
    data["previous"] = current
    data["current"] = None
    data["history"] = _with_history(data, _history_entry(current, "replaced"))
    state_file.write(data)


def _forget_foreground(deployment_id: str) -> None:
    """Clear a stopped foreground deployment from the state file.

    When the lock is held, the holder is the ``down`` or ``up`` that stopped
    us and that records the state itself; waiting for it would only make it
    wait for us.
    """
    from aistack.errors import LockedError

    try:
        with state_file.locked(wait_seconds=0.5):
            data = state_file.read()
            cur = data.get("current")
            if cur and cur.get("deployment_id") == deployment_id:
                data["current"] = None
                data["previous"] = cur
                data["history"] = _with_history(data, _history_entry(cur, "foreground stopped"))
                state_file.write(data)
    except LockedError:
        pass


def _up_foreground(sup, spec, rec, timeout, fallbacks, timings, t0, progress, on_ready) -> UpResult:
    """``up --foreground``: supervise in this process; verify and record from a helper thread."""
    from aistack.supervisors.embedded import EmbeddedSupervisor

    if not isinstance(sup, EmbeddedSupervisor):
        raise UsageError("--foreground needs the embedded runtime.")
    deployment_id = rec["deployment_id"]
    handle = sup.foreground_handle(spec, deployment_id)
    rec["handle"] = _handle_dict(handle)
    failed: list[str] = []
    ready: list[UpResult] = []

    def watch() -> None:
        why = verify(spec, sup, handle, timeout, progress)
        if why is not None:
            failed.append(why)
            return
        with state_file.locked(wait_seconds=30):
            _record(rec)
        timings["verify"] = time.monotonic() - t0
        result = _up_result(
            rec, spec, sup.state(handle), changed=True, fallbacks=fallbacks, timings_s=dict(timings), foreground=True
        )
        ready.append(result)
        if on_ready is not None:
            on_ready(result)

    thread = threading.Thread(target=watch, name="aistack-verify", daemon=True)
    thread.start()
    sup.run_foreground(spec, deployment_id, should_stop=lambda: bool(failed))
    thread.join(timeout=1.0)
    _forget_foreground(deployment_id)
    if failed:
        tail = list(sup.logs(handle, 20, False))
        log = "\n".join("    " + line for line in tail)
        raise DeployError(
            f"The service did not become healthy: {failed[0]}. It was stopped; nothing is deployed."
            + (f"\nLast lines of the server log:\n{log}" if tail else ""),
            hint="Fix the cause shown above, then run 'aistack up --foreground' again.",
            details={"reason": "unhealthy", "why": failed[0], "log_tail": tail},
        )
    if ready:
        return ready[0]
    return _up_result(rec, spec, None, changed=True, fallbacks=fallbacks, timings_s=timings, foreground=True)


# --------------------------------------------------------------------------
# down / status / logs


def _current_or_raise(action: str) -> dict[str, Any]:
    current = state_file.read().get("current")
    if not current:
        raise NotDeployedError(
            f"Nothing is deployed, so there is no {action} to show.",
            hint="Start the server with: aistack up",
        )
    return current


def down(*, wait_s: float = DEFAULT_LOCK_WAIT_S) -> DownResult:
    """Stop the current deployment and clear it from the state file. Idempotent."""
    with state_file.locked(wait_seconds=wait_s):
        data = state_file.read()
        current = data.get("current")
        if not current:
            return DownResult(stopped=False, deployment_id=None, supervisor=None, endpoint=None)
        sup = _supervisor_for(current)
        sup.stop(_handle_from(current))
        data["current"] = None
        data["previous"] = current
        data["history"] = _with_history(data, _history_entry(current, "down"))
        state_file.write(data)
        return DownResult(
            stopped=True,
            deployment_id=current["deployment_id"],
            supervisor=current["handle"]["supervisor"],
            endpoint=_endpoint(_spec_from(current)),
        )


def status() -> StatusResult:
    current = _current_or_raise("status")
    spec = _spec_from(current)
    sup = _supervisor_for(current)
    handle = _handle_from(current)
    st = sup.state(handle)
    hl = health(spec) if st.running else "unreachable"
    decode = prompt = processing = None
    if hl == "ok":
        code, body = http_get(spec.base_url + "/metrics", api_key=_read_key(current.get("api_key_file")))
        if code == 200:
            m = parse_metrics(body.decode(errors="replace"))
            decode = m.get("llamacpp:predicted_tokens_seconds")
            prompt = m.get("llamacpp:prompt_tokens_seconds")
            rp = m.get("llamacpp:requests_processing")
            processing = int(rp) if rp is not None else None
    plan = current["plan"]
    return StatusResult(
        deployment_id=current["deployment_id"],
        supervisor=handle.supervisor,
        model_id=plan["model_id"],
        quant=plan["quant"],
        backend=plan["backend"],
        build=plan["build"],
        endpoint=_endpoint(spec),
        health=hl,
        running=st.running,
        pid=st.pid,
        uptime_s=(time.time() - st.started_at) if st.started_at else None,
        restarts=st.restarts,
        detail=st.detail,
        api_key_file=current.get("api_key_file"),
        log_file=handle.data.get("log_file"),
        deployed_at=float(current.get("deployed_at") or 0.0),
        plan_fingerprint=current.get("plan_fingerprint", ""),
        decode_tps=decode,
        prompt_tps=prompt,
        requests_processing=processing,
    )


def logs(lines: int = 50, follow: bool = False) -> Iterator[str]:
    current = _current_or_raise("log")
    return _supervisor_for(current).logs(_handle_from(current), lines, follow)
