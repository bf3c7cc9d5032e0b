"""Source-build pieces that run without compiling anything."""

from __future__ import annotations

from aistack.backends import llamacpp_source as src


def test_flags_per_build():
    cpu = src.cmake_flags("cpu", system="Linux")
    assert "-DLLAMA_USE_PREBUILT_UI=OFF" in cpu and "-DGGML_NATIVE=ON" in cpu
    assert "-DGGML_CUDA=ON" in src.cmake_flags("cuda", system="Linux")
    assert "-DGGML_METAL=ON" in src.cmake_flags("metal", system="Darwin")
    assert "-DGGML_METAL=OFF" in src.cmake_flags("cpu", system="Darwin")


def test_percent_lines_from_make_and_ninja():
    seen: list[str] = []
    rep = src._PercentReporter(seen.append, "build")
    for line in ["-- Configuring", "[  1%] Building C object a.o", "[  1%] Building C object b.o",
                 "[ 57%] Linking CXX executable llama-server", "[100%] Built target llama-server"]:
        rep(line)
    assert seen == ["build: 1%", "build: 57%", "build: 100%"]
    seen.clear()
    rep = src._PercentReporter(seen.append, "build")
    rep("[3/12] Building CXX object x.o")
    assert seen == ["build: 25%"]


def test_stale_temp_dirs_of_dead_builds_are_swept(tmp_path):
    import os

    dead = tmp_path / ".tmp-key-999999999"
    mine = tmp_path / f".tmp-key-{os.getpid()}"
    dead.mkdir()
    mine.mkdir()
    src._sweep_stale(tmp_path)
    assert not dead.exists() and mine.exists()
