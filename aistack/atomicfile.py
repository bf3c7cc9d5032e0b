"""Writing a file so that readers see the old content or the new, never half.

The text goes to a temporary file in the same directory, is fsynced, and is
renamed over the target with ``os.replace``; on any failure the temporary file
is removed and the target is left as it was. (The embedded supervisor daemon
keeps its own copy: it imports nothing from aistack, see its docstring.)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str, *, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any, *, indent: int | None = 2, mode: int | None = None) -> None:
    write_text(path, json.dumps(data, indent=indent, sort_keys=indent is not None), mode=mode)
