"""A real HTTP file server on 127.0.0.1 with switches for the failures a download meets.

Serves registered files with Range/206, HEAD, ETag, If-Range, and a fake
Hugging Face layout (``/<owner>/<repo>/resolve/<rev>/<path>`` answering HEAD
with ``X-Linked-Etag``/``X-Linked-Size`` and redirecting to a content URL).
Switches (``server.ctl``): cut the body after N bytes, serve wrong bytes,
answer 5xx a few times, ignore Range, omit Content-Length, require a token.
Every request is logged with its headers and the body bytes actually sent.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Entry:
    data: bytes | Path
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    redirect: str | None = None  # answer 302 to this path (HEAD and GET)

    def size(self) -> int:
        return self.data.stat().st_size if isinstance(self.data, Path) else len(self.data)

    def read(self, start: int, end: int) -> bytes:
        if isinstance(self.data, Path):
            with open(self.data, "rb") as fh:
                fh.seek(start)
                return fh.read(end - start)
        return self.data[start:end]


@dataclass
class Controls:
    cut_after: int | None = None  # close the connection after this many body bytes...
    cut_times: int = 1  # ...for this many responses
    corrupt: bool = False  # flip bytes in every body
    fail_times: int = 0  # answer fail_status this many times first
    fail_status: int = 500
    ignore_range: bool = False
    no_length: bool = False  # HTTP/1.0-style body: no Content-Length, close to end it
    token: str | None = None  # require "Authorization: Bearer <token>" on /resolve/ paths


@dataclass
class Logged:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    sent: int = 0


class FileServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Entry] = {}
        self.ctl = Controls()
        self.log: list[Logged] = []
        self.errors: list[BaseException] = []  # unexpected exceptions in the handler
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, path: str, data: bytes | Path, **kw) -> str:
        etag = kw.pop("etag", None) or '"' + hashlib.md5(
            data if isinstance(data, bytes) else str(data).encode()).hexdigest() + '"'
        self.routes[path] = Entry(data=data, etag=etag, **kw)
        return self.url + path

    def add_hub_file(self, repo_id: str, path: str, data: bytes | Path, *, rev: str = "main",
                     sha256: str | None = None, lfs: bool = True) -> str:
        if sha256 is None:
            sha256 = hashlib.sha256(data if isinstance(data, bytes) else data.read_bytes()).hexdigest()
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        resolve = f"/{repo_id}/resolve/{rev}/{path}"
        if lfs:
            cdn = f"/cdn/{sha256}"
            self.add(cdn, data, etag=f'"{sha256}"')
            self.routes[resolve] = Entry(data=b"", redirect=cdn, headers={
                "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(size), "X-Repo-Commit": "c" * 40,
                "ETag": f'"{sha256}"'})
        else:  # a small git file: ETag is the git blob sha1, no linked headers
            self.add(resolve, data, etag='"' + hashlib.sha1(b"x").hexdigest() + '"')
        return f"hf://{repo_id}{'' if rev == 'main' else '@' + rev}/{path}"

    def handle_error(self, request, client_address) -> None:
        # a client that hangs up early (a cut, a header-only read) is part of the tests, not an error
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            self.errors.append(exc)

    def requests_to(self, prefix: str = "") -> list[Logged]:
        return [r for r in self.log if r.path.startswith(prefix)]

    def start(self) -> "FileServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)
        assert not self.errors, f"the test server failed: {self.errors!r}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FileServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _reply(self, status: int, headers: dict[str, str], entry_log: Logged) -> None:
        entry_log.status = status
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _serve(self, body: bool) -> None:
        srv = self.server
        ctl = srv.ctl
        rec = Logged(self.command, self.path, dict(self.headers.items()))
        with srv._lock:
            srv.log.append(rec)
        entry = srv.routes.get(self.path.split("?", 1)[0])
        if ctl.token and "/resolve/" in self.path and self.headers.get("Authorization") != f"Bearer {ctl.token}":
            self._reply(401, {"Content-Length": "0"}, rec)
            return
        if entry is None:
            self._reply(404, {"Content-Length": "0"}, rec)
            return
        if body and ctl.fail_times > 0:
            with srv._lock:
                ctl.fail_times -= 1
            self._reply(ctl.fail_status, {"Content-Length": "0"}, rec)
            return
        if entry.redirect:
            self._reply(302, {"Location": entry.redirect, "Content-Length": "0", **entry.headers}, rec)
            return
        size = entry.size()
        start, end, status = 0, size, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and not ctl.ignore_range and (if_range is None or if_range == entry.etag):
            spec = rng.removeprefix("bytes=")
            a, _, b = spec.partition("-")
            start = int(a)
            end = min(size, int(b) + 1) if b else size
            if start >= size:
                self._reply(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"}, rec)
                return
            status = 206
        headers = {"ETag": entry.etag or "", "Accept-Ranges": "bytes", **entry.headers}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if ctl.no_length:
            headers["Connection"] = "close"
            self.close_connection = True
        else:
            headers["Content-Length"] = str(end - start)
        self._reply(status, headers, rec)
        if not body:
            return
        limit = end - start
        if ctl.cut_after is not None and ctl.cut_times > 0:
            with srv._lock:
                ctl.cut_times -= 1
            limit = min(limit, ctl.cut_after)
            self.close_connection = True
        pos = start
        try:
            while pos < start + limit:
                n = min(256 << 10, start + limit - pos)
                chunk = entry.read(pos, pos + n)
                if ctl.corrupt:
                    chunk = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:]
                self.wfile.write(chunk)
                pos += len(chunk)
                rec.sent += len(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
