"""Build llama-server (and llama-bench) from pinned source, once, and cache it.

The source is the llama.cpp tree vendored in the ``llama-cpp-python`` sdist
(fetched with ``pip download``, so the machine's own pip configuration —
index, mirrors, certificates — applies), verified by sha256 before it is
unpacked. The result lives in ``<cache>/llama.cpp/<key>/bin`` where ``key``
covers the sdist version, the build flavour, the cmake flags and, because
``GGML_NATIVE`` compiles for this CPU, a hash of the CPU's feature set.

A build runs in ``<cache>/llama.cpp/.tmp-<key>-<pid>`` and only a finished,
checked result is renamed into place, so a killed build leaves nothing that
looks usable (and its leftovers are swept on the next run).

Module CLI (used by the test setup)::

    python -m aistack.backends.llamacpp_source [--build cpu] [--jobs N]

prints the directory holding ``llama-server`` and ``llama-bench``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import time
from pathlib import Path

from aistack import proc
from aistack.backends.base import Progress
from aistack.backends.tarsafe import safe_extractall
from aistack.errors import AistackError, FetchError, InstallError

SDIST_DIST = "llama-cpp-python"
SDIST_VERSION = "0.3.36"
SDIST_FILENAME = f"llama_cpp_python-{SDIST_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
VENDORED_DIR = "vendor/llama.cpp"
# The vendored tree's git metadata (so --version reports the real commit).
VENDORED_GIT_DIR = ".git/modules/vendor/llama.cpp"

TARGETS = ("llama-server", "llama-bench")

BASE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one self-contained binary: libc/libstdc++ only
    "-DGGML_OPENMP=OFF",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_OPENSSL=OFF",
    # OFF is required: the prebuilt UI is downloaded from a hub at build time.
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
)

BUILD_FLAGS = {
    "cpu": (),
    "cuda": ("-DGGML_CUDA=ON",),
    "metal": ("-DGGML_METAL=ON",),
    "vulkan": ("-DGGML_VULKAN=ON",),
    "rocm": ("-DGGML_HIP=ON",),
}

# Where toolkits live when they are not on PATH.
NVCC_FALLBACKS = ("/usr/local/cuda/bin/nvcc",)
HIPCC_FALLBACKS = ("/opt/rocm/bin/hipcc",)

ENV_SDIST = "AISTACK_LLAMA_SDIST"  # a local copy of the sdist (still sha256-checked)


# --------------------------------------------------------------------------
# the cache key


def cmake_flags(build: str, system: str | None = None) -> tuple[str, ...]:
    if build not in BUILD_FLAGS:
        raise InstallError(
            f"aistack cannot build llama.cpp's '{build}' flavour from source; it builds: {', '.join(BUILD_FLAGS)}.",
            hint="Point AISTACK_LLAMA_SERVER at a llama-server built for it, or choose another build.",
        )
    flags = BASE_FLAGS + BUILD_FLAGS[build]
    if (system or platform.system()) == "Darwin" and build != "metal":
        flags += ("-DGGML_METAL=OFF",)  # Metal is on by default on macOS
    return flags


def cpu_signature() -> str:
    """A stable description of what ``-march=native`` will see on this CPU."""
    parts = [platform.system(), platform.machine()]
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    if text:
        first = text.split("\n\n", 1)[0]
        fields = {}
        for line in first.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                fields[k.strip()] = v.strip()
        for k in ("vendor_id", "cpu family", "model", "CPU implementer", "CPU part"):
            if k in fields:
                parts.append(f"{k}={fields[k]}")
        feats = fields.get("flags") or fields.get("Features") or ""
        parts.append(" ".join(sorted(feats.split())))
    elif platform.system() == "Darwin":
        from aistack.proc import run

        res = run(["sysctl", "-n", "machdep.cpu.brand_string"], timeout=10)
        parts.append(res.stdout.strip())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def cache_key(build: str) -> str:
    flags = cmake_flags(build)
    inputs = {
        "sdist": f"{SDIST_DIST}=={SDIST_VERSION}",
        "sdist_sha256": SDIST_SHA256,
        "build": build,
        "flags": list(flags),
        "targets": list(TARGETS),
        "cpu": cpu_signature() if "-DGGML_NATIVE=ON" in flags else "generic",
    }
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]
    return f"{SDIST_VERSION}-{build}-{digest}"


def cache_root() -> Path:
    from aistack.paths import dirs

    return dirs().cache / "llama.cpp"


def cached_build(build: str) -> Path | None:
    """The bin dir of a finished cached build for ``build`` on this CPU, if any."""
    if build not in BUILD_FLAGS:
        return None
    bindir = cache_root() / cache_key(build) / "bin"
    if all((bindir / t).is_file() and os.access(bindir / t, os.X_OK) for t in TARGETS):
        return bindir
    return None


# --------------------------------------------------------------------------
# tools


def _installer_hint(packages: dict[str, str]) -> str:
    """The command that installs ``packages`` ({apt name: brew name}) here."""
    from aistack.proc import which

    if platform.system() == "Darwin":
        brew = sorted({b for b in packages.values() if b})
        return "brew install " + " ".join(brew) if brew else "xcode-select --install"
    apt = " ".join(sorted(packages))
    if which("apt-get"):
        sudo = "" if os.geteuid() == 0 else "sudo "
        return f"{sudo}apt-get install -y {apt}"
    if which("dnf"):
        return f"sudo dnf install -y {apt}"
    return f"install {apt} with your package manager"


def missing_tools(build: str) -> list[tuple[str, str, str]]:
    """(what, apt package, brew package) for each tool the build needs and lacks."""
    from aistack.proc import which

    missing = []
    if not which("cmake"):
        missing.append(("cmake", "cmake", "cmake"))
    cxx = os.environ.get("CXX")
    if not (which(cxx) if cxx else any(which(c) for c in ("c++", "g++", "clang++"))):
        missing.append(("a C++ compiler", "g++", ""))
    if platform.system() != "Darwin" and not (which("make") or which("ninja")):
        missing.append(("make", "make", ""))
    if build == "cuda" and not (which("nvcc") or any(Path(p).is_file() for p in NVCC_FALLBACKS)):
        missing.append(("nvcc (the CUDA toolkit)", "nvidia-cuda-toolkit", ""))
    if build == "vulkan" and not which("glslc"):
        missing.append(("glslc and the Vulkan headers", "glslc libvulkan-dev", ""))
    if build == "rocm" and not (which("hipcc") or any(Path(p).is_file() for p in HIPCC_FALLBACKS)):
        missing.append(("hipcc (the ROCm toolkit)", "hipcc", ""))
    return missing


def check_tools(build: str) -> None:
    missing = missing_tools(build)
    if not missing:
        return
    names = ", ".join(m[0] for m in missing)
    if platform.system() == "Darwin" and any(m[0] == "a C++ compiler" for m in missing):
        hint = "xcode-select --install"
        brew = [m[2] for m in missing if m[2]]
        if brew:
            hint += " && brew install " + " ".join(brew)
    else:
        hint = _installer_hint({pkg: brew for _, pkg, brew in missing})
    raise InstallError(
        f"Cannot build llama.cpp ({build}) from source: {names} {'is' if len(missing) == 1 else 'are'} missing.",
        hint=f"Nothing was downloaded or changed. Install with: {hint} — then run the command again.",
        details={"missing": [m[0] for m in missing]},
    )


# --------------------------------------------------------------------------
# the build


def ensure_build(build: str, progress: Progress, *, jobs: int | None = None) -> Path:
    """Return the bin dir holding llama-server and llama-bench for ``build``,
    building from pinned source when no cached build exists."""
    from aistack.paths import ensure_dir

    key = cache_key(build)
    hit = cached_build(build)
    if hit:
        progress(f"llama.cpp {build} build: cached at {hit.parent}")
        return hit
    check_tools(build)
    root = ensure_dir(cache_root())
    with _exclusive(root / f"{key}.lock"):
        hit = cached_build(build)  # another process may have finished it meanwhile
        if hit:
            progress(f"llama.cpp {build} build: cached at {hit.parent}")
            return hit
        _sweep_stale(root)
        work = root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            out = _build_into(work, build, progress, jobs or os.cpu_count() or 1)
            final = root / key
            shutil.rmtree(final, ignore_errors=True)  # an incomplete leftover, never a finished build
            os.rename(out, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    progress(f"llama.cpp {build} build: done, cached at {final}")
    return final / "bin"


def _build_into(work: Path, build: str, progress: Progress, jobs: int) -> Path:
    from aistack.proc import run, run_streaming

    started = time.monotonic()
    sdist = _obtain_sdist(work / "dl", progress)
    progress(f"llama.cpp {build} build: unpacking {sdist.name}")
    src = _extract_vendored(sdist, work / "src")
    bld = work / "build"
    flags = cmake_flags(build)
    env = dict(os.environ)
    # Keep cmake's git lookups inside the unpacked tree (never an enclosing repo).
    env["GIT_CEILING_DIRECTORIES"] = str(work)

    progress(f"llama.cpp {build} build: configuring")
    res = run_streaming(["cmake", "-S", str(src), "-B", str(bld), *flags], lambda _l: None, env=env, timeout=1800)
    if not res.ok:
        raise _build_failed(build, "cmake configure", res.stdout)

    pct = _PercentReporter(progress, f"llama.cpp {build} build")
    res = run_streaming(
        ["cmake", "--build", str(bld), f"-j{jobs}", "--target", *TARGETS],
        pct,
        env=env,
        timeout=4 * 3600,
    )
    if not res.ok:
        raise _build_failed(build, "compile", res.stdout)

    out = work / "out"
    (out / "bin").mkdir(parents=True)
    for t in TARGETS:
        found = next((p for p in (bld / "bin" / t, bld / t) if p.is_file()), None)
        if found is None:
            raise _build_failed(build, f"locating {t}", f"{t} was not produced under {bld}")
        shutil.copy2(found, out / "bin" / t)
    check = run([str(out / "bin" / "llama-server"), "--version"], timeout=30)
    if not check.ok:
        raise _build_failed(build, "checking the new llama-server", check.stdout + check.stderr)
    manifest = {
        "sdist": f"{SDIST_DIST}=={SDIST_VERSION}",
        "sdist_sha256": SDIST_SHA256,
        "build": build,
        "flags": list(flags),
        "cpu_signature": cpu_signature(),
        "version": (check.stdout + check.stderr).strip(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(time.monotonic() - started, 1),
        "jobs": jobs,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


class _PercentReporter:
    """Turns cmake's ``[ NN%]`` (make) or ``[n/m]`` (ninja) lines into progress
    messages, one per change of percentage."""

    _MAKE = re.compile(r"^\[\s*(\d+)%\]")
    _NINJA = re.compile(r"^\[(\d+)/(\d+)\]")

    def __init__(self, progress: Progress, label: str):
        self.progress = progress
        self.label = label
        self.last = -1

    def __call__(self, line: str) -> None:
        m = self._MAKE.match(line)
        if m:
            pct = int(m.group(1))
        else:
            m = self._NINJA.match(line)
            if not m:
                return
            pct = int(m.group(1)) * 100 // max(1, int(m.group(2)))
        if pct != self.last:
            self.last = pct
            self.progress(f"{self.label}: {pct}%")


def _build_failed(build: str, step: str, output: str) -> InstallError:
    tail = "\n".join(output.strip().splitlines()[-15:])
    return InstallError(
        f"Building llama.cpp ({build}) from source failed during {step}.\n{tail}",
        hint="Nothing was installed or cached. Fix the error above (often a missing package), "
        "or point AISTACK_LLAMA_SERVER at an existing llama-server.",
    )


def _obtain_sdist(dest: Path, progress: Progress) -> Path:
    """The verified sdist: a local copy named by AISTACK_LLAMA_SDIST, or pip download."""
    from aistack.proc import run

    local = os.environ.get(ENV_SDIST)
    if local:
        path = Path(local).expanduser()
        if not path.is_file():
            raise FetchError(f"{ENV_SDIST} points at {path}, which does not exist.", hint=f"Unset {ENV_SDIST}.")
        progress(f"llama.cpp source: using {path}")
    else:
        dest.mkdir(parents=True, exist_ok=True)
        progress(f"llama.cpp source: downloading {SDIST_DIST}=={SDIST_VERSION} with pip")
        res = run(
            # --no-binary for this one package only: ":all:" would also force pip's
            # isolated build environment (scikit-build-core & co.) to build from
            # source, which takes many minutes on a fresh machine; with wheels it is seconds.
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", SDIST_DIST,
             f"{SDIST_DIST}=={SDIST_VERSION}", "-d", str(dest)],
            timeout=1800,
        )
        path = dest / SDIST_FILENAME
        if not res.ok or not path.is_file():
            tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-5:])
            raise FetchError(
                f"Could not download the llama.cpp source ({SDIST_DIST}=={SDIST_VERSION}) with pip.\n{tail}",
                hint=f"Nothing was installed. Check the package index is reachable (pip config list), "
                f"or set {ENV_SDIST} to a local copy of {SDIST_FILENAME}.",
            )
    digest = _sha256(path)
    if digest != SDIST_SHA256:
        if not local:
            path.unlink(missing_ok=True)
        raise FetchError(
            f"{path.name} has sha256 {digest}, expected {SDIST_SHA256}; it was not unpacked"
            + ("." if local else " and has been deleted."),
            hint="Nothing was installed. Run the command again; if it persists, the package index "
            "or mirror is serving a different file.",
        )
    return path


def _extract_vendored(sdist: Path, dest: Path) -> Path:
    """Unpack only the vendored llama.cpp tree (and its git metadata)."""
    dest.mkdir(parents=True, exist_ok=True)
    root = f"llama_cpp_python-{SDIST_VERSION}/"
    wanted = (root + VENDORED_DIR + "/", root + VENDORED_GIT_DIR + "/")
    with tarfile.open(sdist, "r:gz") as tf:
        members = [m for m in tf.getmembers() if m.name.startswith(wanted)]
        if not members:
            raise InstallError(f"{sdist.name} holds no {VENDORED_DIR} tree.", hint="Nothing was installed.")
        safe_extractall(tf, dest, members)
    return dest / root / VENDORED_DIR


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sweep_stale(root: Path) -> None:
    """Remove temp dirs of builds whose process is gone (killed builds)."""
    for d in root.glob(".tmp-*"):
        pid = d.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not proc.pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)




class _exclusive:
    """An exclusive advisory lock on a file (waits for a concurrent build)."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "a")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        import fcntl

        assert self.fh is not None
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


# --------------------------------------------------------------------------
# module CLI


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m aistack.backends.llamacpp_source",
        description="Build llama-server and llama-bench from pinned source (or find the cached build) "
        "and print the directory holding them.",
    )
    ap.add_argument("--build", default="cpu", choices=sorted(BUILD_FLAGS))
    ap.add_argument("--jobs", type=int, default=None, help="parallel compile jobs (default: all cores)")
    args = ap.parse_args(argv)

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        bindir = ensure_build(args.build, progress, jobs=args.jobs)
    except AistackError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return 130
    print(bindir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
