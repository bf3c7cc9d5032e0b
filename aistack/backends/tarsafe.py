"""Extract a tar archive without letting it write outside the destination.

Python's ``filter="data"`` does exactly that, but it exists only from 3.11.4 /
3.10.12 on; Debian 12's python3 is 3.11.2. There, the same rules are checked
by hand: no absolute paths, no ``..``, no links that leave ``dest``, no device
or fifo members.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from aistack.errors import InstallError


def safe_extractall(tf: tarfile.TarFile, dest: Path, members: list[tarfile.TarInfo] | None = None) -> None:
    if hasattr(tarfile, "data_filter"):
        tf.extractall(dest, members=members, filter="data")
        return
    root = os.path.realpath(dest)
    chosen = members if members is not None else tf.getmembers()
    for m in chosen:
        _check(m, root)
    tf.extractall(dest, members=chosen)


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _check(m: tarfile.TarInfo, root: str) -> None:
    def refuse(why: str) -> None:
        raise InstallError(f"The archive member {m.name!r} {why}; nothing more was unpacked.",
                           hint="The archive is damaged or malicious. Nothing was installed.")

    if m.name.startswith(("/", "\\")) or ".." in Path(m.name).parts:
        refuse("points outside the destination")
    if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
        refuse("is a device or fifo")
    target = os.path.join(root, m.name)
    if not _inside(root, target):
        refuse("points outside the destination")
    if m.issym():
        link = os.path.join(os.path.dirname(target), m.linkname)
        if os.path.isabs(m.linkname) or not _inside(root, link):
            refuse(f"is a link to {m.linkname!r}, outside the destination")
    if m.islnk() and not _inside(root, os.path.join(root, m.linkname)):
        refuse(f"is a hard link to {m.linkname!r}, outside the destination")
