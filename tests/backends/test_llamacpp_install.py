"""install(): every source a llama-server can come from, with real binaries.

The user/PATH/release tests run the real llama-server built for the tests;
the source-build test runs the real build path against the cache
scripts/test-setup.sh filled (a cache hit: no compiler may run).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from aistack.backends import llamacpp_release, llamacpp_source
from aistack.backends.llamacpp import LlamaCppBackend
from aistack.errors import InstallError

from backend_plans import cpu_plan

PLAN = cpu_plan()
HOST_PATH = os.environ.get("PATH", "/usr/bin:/bin")  # before any test narrows it


def install(messages: list[str] | None = None):
    out = messages if messages is not None else []
    return LlamaCppBackend().install(PLAN, None, out.append)  # type: ignore[arg-type]


def tool_dir(tmp_path: Path, tools: tuple[str, ...]) -> str:
    """A PATH directory holding links to just ``tools`` (those this machine has)."""
    d = tmp_path / ("toolbin-" + "-".join(tools))
    d.mkdir(exist_ok=True)
    for t in tools:
        real = shutil.which(t, path=HOST_PATH)
        if real:
            (d / t).symlink_to(real)
    return str(d)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("AISTACK_LLAMA_SERVER", raising=False)
    monkeypatch.delenv("AISTACK_LLAMA_RELEASE_URL", raising=False)
    monkeypatch.setenv("PATH", tool_dir(tmp_path, ()))  # nothing at all on PATH
    return monkeypatch


# --- the build tool check (no binary needed) --------------------------------


def test_missing_cmake_is_named_with_the_install_command(clean_env, tmp_path):
    clean_env.setenv("PATH", tool_dir(tmp_path, ("c++", "g++", "make", "apt-get")))
    with pytest.raises(InstallError) as exc:
        llamacpp_source.ensure_build("cpu", lambda _m: None)
    err = exc.value
    assert err.message == "Cannot build llama.cpp (cpu) from source: cmake is missing."
    assert "apt-get install -y cmake" in (err.hint or "")
    assert "Nothing was downloaded" in (err.hint or "")
    assert err.details["missing"] == ["cmake"]
    # nothing was started in the cache
    assert not (llamacpp_source.cache_root()).exists() or not any(llamacpp_source.cache_root().iterdir())


def test_missing_cuda_toolkit_is_named(clean_env, tmp_path):
    clean_env.setenv("PATH", tool_dir(tmp_path, ("cmake", "c++", "make", "apt-get")))
    clean_env.setattr(llamacpp_source, "NVCC_FALLBACKS", ())  # this machine has /usr/local/cuda
    with pytest.raises(InstallError) as exc:
        llamacpp_source.check_tools("cuda")
    assert "nvcc (the CUDA toolkit) is missing" in exc.value.message
    assert "apt-get install -y nvidia-cuda-toolkit" in (exc.value.hint or "")


def test_cache_key_covers_build_and_flags():
    assert llamacpp_source.cache_key("cpu") == llamacpp_source.cache_key("cpu")
    assert llamacpp_source.cache_key("cpu") != llamacpp_source.cache_key("cuda")
    assert llamacpp_source.cache_key("cpu").startswith(llamacpp_source.SDIST_VERSION + "-cpu-")


def test_unknown_build_is_refused(clean_env):
    with pytest.raises(InstallError, match="no 'npu' build"):
        LlamaCppBackend().install(cpu_plan(build="npu"), None, lambda _m: None)  # type: ignore[arg-type]


# --- real binaries ------------------------------------------------------------


@pytest.mark.integration
def test_user_binary_from_env(clean_env, llama_server_bin):
    clean_env.setenv("AISTACK_LLAMA_SERVER", str(llama_server_bin))
    msgs: list[str] = []
    inst = install(msgs)
    assert inst.source == "user"
    assert inst.executable == str(llama_server_bin)
    assert inst.version and inst.version.startswith("version: 0.5.0")
    assert any("AISTACK_LLAMA_SERVER" in m for m in msgs)


@pytest.mark.integration
def test_user_binary_from_config(clean_env, llama_server_bin):
    from aistack.paths import dirs, ensure_dir

    ensure_dir(dirs().config)
    dirs().config_file.write_text(f'[llama_cpp]\nserver = "{llama_server_bin}"\n')
    inst = install()
    assert (inst.source, inst.executable) == ("user", str(llama_server_bin))


@pytest.mark.integration
def test_user_binary_that_does_not_exist_is_an_error(clean_env, tmp_path):
    clean_env.setenv("AISTACK_LLAMA_SERVER", str(tmp_path / "missing" / "llama-server"))
    with pytest.raises(InstallError, match="AISTACK_LLAMA_SERVER does not exist"):
        install()


@pytest.mark.integration
def test_path_lookup_with_version(clean_env, tmp_path, llama_server_bin):
    bindir = tmp_path / "pathbin"
    bindir.mkdir()
    shutil.copy2(llama_server_bin, bindir / "llama-server")
    clean_env.setenv("PATH", str(bindir))
    msgs: list[str] = []
    inst = install(msgs)
    assert inst.source == "path"
    assert inst.executable == str(bindir / "llama-server")
    assert "0.5.0" in (inst.version or "")
    assert any("from PATH" in m for m in msgs)


@pytest.mark.integration
def test_old_llama_server_on_path_is_passed_over(clean_env, tmp_path):
    # A llama-server of the pre-semver era (recorded --version output); it
    # would reject flags we render, so install moves on -- here to a source
    # build that cannot start because this PATH has no cmake.
    bindir = tmp_path / "old"
    bindir.mkdir()
    old = bindir / "llama-server"
    old.write_text("#!/bin/sh\necho 'version: 6500 (a1b2c3d4)' >&2\necho 'built with cc for x86_64-linux-gnu' >&2\n")
    old.chmod(0o755)
    clean_env.setenv("PATH", f"{bindir}:{tool_dir(tmp_path, ('sh', 'c++', 'make'))}")
    with pytest.raises(InstallError) as exc:
        install()
    assert "cmake is missing" in exc.value.message
    assert any("older than llama.cpp 0.5.0" in t for t in exc.value.details["tried"])


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def release_server(tmp_path, free_port):
    """A local HTTP server laid out like the release site: <base>/<tag>/<file>."""
    root = tmp_path / "site"
    (root / llamacpp_release.RELEASE_TAG).mkdir(parents=True)
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{free_port}"
    srv.shutdown()
    srv.server_close()


def _release_zip(path: Path, server: Path) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("build/bin/llama-server")
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, server.read_bytes())
        zf.writestr("build/bin/LICENSE", "MIT\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.integration
def test_release_archive_is_verified_and_unpacked(clean_env, release_server, llama_server_bin):
    root, base = release_server
    key = llamacpp_release.platform_key()
    name = f"llama-test-bin-{key}.zip"
    digest = _release_zip(root / llamacpp_release.RELEASE_TAG / name, llama_server_bin)
    asset = llamacpp_release.ReleaseAsset(llamacpp_release.RELEASE_TAG, key, "cpu", name, digest)
    clean_env.setitem(llamacpp_release.PINNED_ASSETS, (key, "cpu"), asset)
    clean_env.setenv("AISTACK_LLAMA_RELEASE_URL", base)

    msgs: list[str] = []
    inst = install(msgs)
    assert inst.source == "release"
    exe = Path(inst.executable)
    assert exe == llamacpp_release.install_dir(asset) / "build" / "bin" / "llama-server"
    assert os.access(exe, os.X_OK) and "0.5.0" in (inst.version or "")
    assert not list(exe.parents[3].glob(".tmp-*"))  # the temp dir is gone

    # installed once: a second install needs no server at all
    (root / llamacpp_release.RELEASE_TAG / name).unlink()
    assert install().executable == str(exe)


@pytest.mark.integration
def test_release_archive_with_wrong_hash_is_refused(clean_env, release_server, llama_server_bin):
    root, base = release_server
    key = llamacpp_release.platform_key()
    name = f"llama-test-bin-{key}.zip"
    _release_zip(root / llamacpp_release.RELEASE_TAG / name, llama_server_bin)
    asset = llamacpp_release.ReleaseAsset(llamacpp_release.RELEASE_TAG, key, "cpu", name, "0" * 64)
    clean_env.setenv("AISTACK_LLAMA_RELEASE_URL", base)
    with pytest.raises(InstallError) as exc:
        llamacpp_release.install_release(asset, lambda _m: None)
    assert "expected " + "0" * 64 in exc.value.message
    assert "deleted without being unpacked" in exc.value.message
    dest = llamacpp_release.install_dir(asset)
    assert not dest.exists()
    assert not list(dest.parent.iterdir())  # no archive, no temp dir left


@pytest.mark.integration
def test_source_build_cache_hit_runs_no_compiler(clean_env, tmp_path, test_cache):
    cache = test_cache / "cache"
    clean_env.setenv("AISTACK_CACHE_DIR", str(cache))
    if llamacpp_source.cached_build("cpu") is None:
        pytest.fail(
            f"no cached llama.cpp cpu build under {cache}: run "
            f"AISTACK_CACHE_DIR={cache} python -m aistack.backends.llamacpp_source --build cpu "
            "(scripts/test-setup.sh does it)"
        )
    # PATH is empty: if ensure_build tried to compile, the tool check would fail.
    msgs: list[str] = []
    bindir = llamacpp_source.ensure_build("cpu", msgs.append)
    assert (bindir / "llama-server").is_file() and (bindir / "llama-bench").is_file()
    assert any("cached" in m for m in msgs)
    # and install() prefers it over any download when nothing is on PATH
    inst = install()
    assert inst.source == "source-build" and inst.executable == str(bindir / "llama-server")
