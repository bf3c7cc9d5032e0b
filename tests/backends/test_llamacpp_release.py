"""Release-archive rules that need no server: pinning, platforms, unpacking safety."""

from __future__ import annotations

import zipfile

import pytest

from aistack.backends import llamacpp_release as rel
from aistack.errors import InstallError


def test_platform_keys():
    assert rel.platform_key("Linux", "x86_64") == "ubuntu-x64"
    assert rel.platform_key("Linux", "aarch64") == "ubuntu-arm64"
    assert rel.platform_key("Darwin", "arm64") == "macos-arm64"


def test_unpinned_archives_are_never_used(monkeypatch):
    key = rel.platform_key()
    monkeypatch.setitem(rel.PINNED_ASSETS, (key, "cpu"), rel.ReleaseAsset("b1", key, "cpu", "x.zip", None))
    assert rel.pinned_asset("cpu") is None
    monkeypatch.setitem(rel.PINNED_ASSETS, (key, "cpu"), rel.ReleaseAsset("b1", key, "cpu", "x.zip", "ab" * 32))
    assert rel.pinned_asset("cpu").sha256 == "ab" * 32
    assert rel.pinned_asset("no-such-build") is None


def test_zip_entry_escaping_the_archive_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../etc/evil", "x")
    with pytest.raises(InstallError, match="escapes the archive"):
        rel._unpack(z, tmp_path / "out")
    assert not (tmp_path / "etc").exists()


def test_zip_keeps_exec_bit_and_symlinks(tmp_path):
    z = tmp_path / "ok.zip"
    with zipfile.ZipFile(z, "w") as zf:
        exe = zipfile.ZipInfo("build/bin/llama-server")
        exe.external_attr = 0o100755 << 16
        zf.writestr(exe, "#!/bin/sh\n")
        link = zipfile.ZipInfo("build/bin/libggml.so")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "libggml.so.0")
        zf.writestr("build/bin/libggml.so.0", "lib")
    rel._unpack(z, tmp_path / "out")
    assert rel._find_server(tmp_path / "out") == tmp_path / "out/build/bin/llama-server"
    assert (tmp_path / "out/build/bin/libggml.so").is_symlink()
    assert (tmp_path / "out/build/bin/libggml.so").read_text() == "lib"
