"""A tiny threaded HTTP/1.1 file server on 127.0.0.1 for tests and benchmarks of remote reads: it honours single
byte ranges and counts the requests it answers and the body bytes it sends.

- GET and HEAD of /PATH serve the file ROOT/PATH (the query string is ignored); 404 when there is none (a folder
  too: GDAL's listing of a folder gets a 404 and GDAL goes on without it).
- `Range: bytes=a-b`, `bytes=a-` or `bytes=-n` -> 206 with Content-Range; an unsatisfiable or malformed range
  -> 416 (Content-Range: bytes */SIZE); a multi-range request (comma-separated) -> 200 and the whole file
  (counted in `multi_range`). GDAL 3.10 sends none by default (GDAL_HTTP_MULTIRANGE=PARALLEL: one range a
  request, adjacent tiles merged, gaps read in parallel requests), whether a window, a tall strip, scattered
  windows, an overview or a whole band; only GDAL_HTTP_MULTIRANGE=SINGLE_GET does, and after this server's 200
  GDAL falls back to single ranges, at the cost of the whole file once a try.
- HEAD -> Content-Length and `Accept-Ranges: bytes`, no body.
- S3 path style: a GET of /BUCKET/KEY is the file ROOT/BUCKET/KEY, so GDAL's /vsis3/BUCKET/KEY reads it with
  `server.s3_settings()` (AWS_S3_ENDPOINT=127.0.0.1:PORT, AWS_HTTPS=NO, AWS_VIRTUAL_HOSTING=FALSE,
  AWS_NO_SIGN_REQUEST=YES). /vsicurl/URL works too.

    with serve(root) as server:
        with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"):
            rasterio.open(f"/vsicurl/{server.url}/scene.tif") ...
        server.bytes_sent, server.requests, server.log, server.multi_range; server.reset()

The server runs in a child process (ThreadingHTTPServer there; counters in a memory-mapped file). In the test's own
process it would deadlock: rasterio makes some GDAL calls while holding Python's GIL (the folder listing
GetFileList after an open, for one), and a Python server thread cannot answer them. A request is counted when its
answer starts and its body bytes as they are handed to the socket, so the counters are complete once the client
has its response.

No geoclassify import; standard library only.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlsplit

CHUNK = 64 * 1024
COUNTERS = struct.Struct("<qq")  # body bytes sent, requests answered


@dataclass(frozen=True)
class Request:
    """One request answered: method, path (with query), its Range header (None without), status, and the body
    length of the answer (0 for HEAD)."""

    method: str
    path: str
    range: str | None
    status: int
    length: int


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte, inclusive, of a single range `bytes=a-b`, `bytes=a-` or `bytes=-n` in a file of `size`
    bytes (b past the end is clipped); None when malformed or unsatisfiable."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # suffix: the last n bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n > 0 and size > 0 else None
    start, end = int(first), size - 1 if last == "" else min(int(last), size - 1)
    return (start, end) if start < size and start <= end else None


def file_under(root: Path, url_path: str) -> Path | None:
    """The file a URL path names under `root` (resolved), or None: missing, a folder, or outside the root."""
    path = (root / unquote(urlsplit(url_path).path).lstrip("/")).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


class _Shared:
    """What the server (a child process) and the Server (the parent) share: the counters, two int64 (body bytes,
    requests) in a memory-mapped file that only the child writes, and the request log, a file of JSON lines."""

    def __init__(self, counters_path: str, log_path: str) -> None:
        self.log_path = log_path
        self._file = open(counters_path, "r+b")  # mapped for the object's life
        self._map = mmap.mmap(self._file.fileno(), COUNTERS.size)
        self._lock = threading.Lock()  # the child's handler threads
        self._log: Any = None

    def totals(self) -> tuple[int, int]:
        """(body bytes sent, requests answered) since the server started."""
        return COUNTERS.unpack_from(self._map)

    def add_request(self, request: Request) -> None:
        with self._lock:
            if self._log is None:
                self._log = open(self.log_path, "a", buffering=1)  # line-buffered, open for the process's life
            self._log.write(json.dumps(list(vars(request).values())) + "\n")
            sent, requests = self.totals()
            COUNTERS.pack_into(self._map, 0, sent, requests + 1)

    def add_bytes(self, n: int) -> None:
        with self._lock:
            sent, requests = self.totals()
            COUNTERS.pack_into(self._map, 0, sent + n, requests)

    def close(self) -> None:
        self._map.close()
        self._file.close()


def _handler(root: Path, shared: _Shared) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries a Content-Length

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            header = self.headers.get("Range")
            path = file_under(root, self.path)
            if path is None:
                return self.short(404, header, b"not found\n", body)
            size = path.stat().st_size
            first, last, status = 0, size - 1, 200
            if header is not None and "," not in header:  # several ranges at once: the whole file (200)
                span = parse_range(header, size)
                if span is None:
                    return self.short(416, header, b"", body, {"Content-Range": f"bytes */{size}"})
                (first, last), status = span, 206
            length = last - first + 1
            shared.add_request(Request(self.command, self.path, header, status, length if body else 0))
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            if status == 206:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if body:
                with open(path, "rb") as f:
                    f.seek(first)
                    self.copy(f, length)

        def copy(self, f: Any, length: int) -> None:
            try:
                while length > 0:
                    chunk = f.read(min(CHUNK, length))
                    if not chunk:
                        break
                    shared.add_bytes(len(chunk))  # before the write: counted once the client can have it
                    self.wfile.write(chunk)
                    length -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client hung up
                self.close_connection = True

        def short(self, status: int, header: str | None, text: bytes, body: bool,
                  extra: dict[str, str] | None = None) -> None:
            shared.add_request(Request(self.command, self.path, header, status, len(text) if body else 0))
            self.send_response(status)
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            if body and text:
                shared.add_bytes(len(text))
                self.wfile.write(text)

    return Handler


def _serve_forever(root: str, counters_path: str, log_path: str) -> None:
    """The child process: serve `root` on 127.0.0.1 (a free port, printed on stdout) until stdin closes."""
    shared = _Shared(counters_path, log_path)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Path(root), shared))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(httpd.server_address[1], flush=True)
    sys.stdin.read()  # EOF: the parent closed the pipe or ended
    httpd.shutdown()
    httpd.server_close()


class Server:
    """A running server: `url` (http://127.0.0.1:PORT), `port`, `root`; counters `bytes_sent` (body bytes),
    `requests`, `log` (every Request, in order), `multi_range`; `reset()`; `s3_settings()`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._folder = tempfile.TemporaryDirectory(prefix="range-server-")
        counters, log = Path(self._folder.name, "counters"), Path(self._folder.name, "log.jsonl")
        counters.write_bytes(bytes(COUNTERS.size))
        log.touch()
        # the server runs this file as a script (stdlib only, no import of the caller's __main__); -I: isolated, so
        # tests/ (which holds folders named io, data...) is not put in front of the standard library
        self._process = subprocess.Popen([sys.executable, "-I", __file__, str(self.root), str(counters), str(log)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError("the range server did not start")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"
        self._shared = _Shared(str(counters), str(log))
        self._base = (0, 0)  # totals at the last reset
        self._log_from = 0  # log file offset at the last reset

    @property
    def bytes_sent(self) -> int:
        """Body bytes sent since the start or the last reset."""
        return self._shared.totals()[0] - self._base[0]

    @property
    def requests(self) -> int:
        """Requests answered (any status) since the start or the last reset."""
        return self._shared.totals()[1] - self._base[1]

    @property
    def log(self) -> list[Request]:
        """The requests answered since the start or the last reset, in order."""
        with open(self._shared.log_path, "rb") as f:
            f.seek(self._log_from)
            lines = f.read().decode().split("\n")[:-1]  # complete lines only
        return [Request(*json.loads(line)) for line in lines]

    @property
    def multi_range(self) -> int:
        """How many requests asked for several ranges at once (answered with the whole file)."""
        return sum(1 for r in self.log if r.range is not None and "," in r.range)

    def reset(self) -> None:
        """Zero the counters and clear the log (from here on)."""
        self._base = self._shared.totals()
        self._log_from = Path(self._shared.log_path).stat().st_size

    def s3_settings(self) -> dict[str, str]:
        """GDAL settings that point /vsis3/BUCKET/KEY at this server (path style, unsigned, plain HTTP)."""
        return {"AWS_S3_ENDPOINT": f"127.0.0.1:{self.port}", "AWS_HTTPS": "NO", "AWS_VIRTUAL_HOSTING": "FALSE",
                "AWS_NO_SIGN_REQUEST": "YES"}

    def close(self) -> None:
        """Stop the server process; remove its files."""
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        if hasattr(self, "_shared"):
            self._shared.close()
        self._folder.cleanup()


@contextmanager
def serve(root: Path | str) -> Iterator[Server]:
    """Serve the files under `root` on 127.0.0.1 (a free port, a child process) for the duration of the block."""
    server = Server(root)
    try:
        yield server
    finally:
        server.close()


if __name__ == "__main__":
    _serve_forever(*sys.argv[1:4])
