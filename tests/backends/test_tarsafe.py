"""safe_extractall: the by-hand rules used where tarfile has no filter="data" (Python < 3.11.4)."""

from __future__ import annotations

import io
import tarfile

import pytest

from aistack.backends import tarsafe
from aistack.errors import InstallError


def _tar(*members: tuple[str, str, bytes | str]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, payload
                tf.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tf.addfile(info)
            else:
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


@pytest.fixture(params=["builtin", "by-hand"])
def mode(request, monkeypatch):
    if request.param == "by-hand":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    return request.param


def test_plain_members_are_extracted(tmp_path, mode):
    with _tar(("a/ok.txt", "file", b"hi"), ("a/link", "sym", "ok.txt")) as tf:
        tarsafe.safe_extractall(tf, tmp_path)
    assert (tmp_path / "a" / "ok.txt").read_bytes() == b"hi"
    assert (tmp_path / "a" / "link").read_bytes() == b"hi"


@pytest.mark.parametrize(
    "member",
    [("../evil", "file", b"x"), ("/abs", "file", b"x"), ("l", "sym", "/etc/passwd"), ("l", "sym", "../../x"), ("f", "fifo", b"")],
)
def test_escaping_or_special_members_are_refused(tmp_path, member):
    import tarfile as _t

    saved = getattr(_t, "data_filter", None)
    if saved is not None:
        del _t.data_filter
    try:
        with _tar(member) as tf, pytest.raises(InstallError):
            tarsafe.safe_extractall(tf, tmp_path / "dest")
    finally:
        if saved is not None:
            _t.data_filter = saved
    assert not (tmp_path / "evil").exists()
