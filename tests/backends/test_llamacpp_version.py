from __future__ import annotations

import pytest

from aistack.backends.llamacpp_version import check_binary, describe, is_supported, parse_version
from aistack.errors import InstallError


def test_semver_shape():
    v = parse_version("version: 0.5.0-dev (build 1, commit 0c1e570)\nbuilt with GNU 12.2.0 for Linux x86_64\n")
    assert v is not None
    assert v.semver == (0, 5, 0) and v.prerelease == "dev"
    assert v.build_number == 1 and v.commit == "0c1e570"
    assert is_supported(v)
    assert describe(v) == "llama.cpp 0.5.0-dev, commit 0c1e570"


def test_release_build_number_shape_is_too_old():
    v = parse_version("version: 6500 (a1b2c3d4)\nbuilt with cc for x86_64-linux-gnu")
    assert v is not None
    assert v.semver is None and v.build_number == 6500 and v.commit == "a1b2c3d4"
    assert not is_supported(v)


def test_newer_semver_supported_older_not():
    assert is_supported(parse_version("version: 1.2.3 (build 9000, commit abcdef0)"))
    assert not is_supported(parse_version("version: 0.4.9 (build 10, commit unknown)"))
    assert parse_version("version: 0.4.9 (build 10, commit unknown)").commit is None


def test_no_version_line():
    assert parse_version("usage: llama-server [options]") is None
    assert not is_supported(None)


def test_missing_binary_names_origin(tmp_path):
    with pytest.raises(InstallError) as exc:
        check_binary(tmp_path / "nope", origin="AISTACK_LLAMA_SERVER")
    assert "AISTACK_LLAMA_SERVER does not exist" in exc.value.message


def test_non_executable_binary(tmp_path):
    f = tmp_path / "llama-server"
    f.write_text("not a program")
    with pytest.raises(InstallError, match="could not be run"):
        check_binary(f, origin="config.toml [llama_cpp] server")


def test_version_answer_is_remembered_until_the_binary_changes(tmp_path):
    # A real executable that counts how often it is run.
    counter = tmp_path / "runs"
    exe = tmp_path / "llama-server"
    exe.write_text(
        "#!/bin/sh\n"
        f"echo x >> {counter}\n"
        "echo 'version: 0.5.0-dev (build 1, commit 0c1e570)'\n"
    )
    exe.chmod(0o755)
    first = check_binary(exe, origin="test")
    second = check_binary(exe, origin="test")
    assert first == second and first.commit == "0c1e570"
    assert counter.read_text().count("x") == 1  # the second answer came from the cache

    # Replaced binary (new content, size and mtime): asked again, new answer.
    exe.write_text(
        "#!/bin/sh\n"
        f"echo x >> {counter}\n"
        "echo 'version: 0.6.1 (build 2, commit abcdef1)'\n"
    )
    exe.chmod(0o755)
    third = check_binary(exe, origin="test")
    assert third.semver == (0, 6, 1)
    assert counter.read_text().count("x") == 2
