"""A small HTTP/1.1 file server on 127.0.0.1 that honours single byte ranges and counts what it sends: the remote
end of tests and benchmarks of remote reads (GDAL's /vsicurl/ and, with AWS_S3_ENDPOINT pointed at it, /vsis3/:
a GET of /BUCKET/KEY is the file ROOT/BUCKET/KEY)."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit


class Counters:
    """Bytes of bodies sent and requests answered, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes_sent = 0
        self.requests = 0
        self.ranges: list[str] = []  # the Range headers received, in order

    def add(self, sent: int, range_header: str | None) -> None:
        with self._lock:
            self.bytes_sent += sent
            self.requests += 1
            if range_header:
                self.ranges.append(range_header)

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent, self.requests, self.ranges = 0, 0, []


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range in a file of `size` bytes; None
    when unsatisfiable."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start <= end and start < size else None


def handler(root: Path, counters: Counters) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving files under `root`."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            path = (root / unquote(urlsplit(self.path).path).lstrip("/")).resolve()
            if root not in path.parents or not path.is_file():
                self.send_error(404)
                counters.add(0, None)
                return
            data = path.read_bytes()
            header = self.headers.get("Range")
            if header and "," not in header:
                span = byte_range(header, len(data))
                if span is None:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    counters.add(0, header)
                    return
                start, end = span
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                data = data[start:end + 1]
            else:  # no range, or several (answered with the whole file, as HTTP allows)
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if body:
                self.wfile.write(data)
            counters.add(len(data) if body else 0, header)

    return Handler


class Server:
    """A running server: its `url` (http://127.0.0.1:PORT) and its counters."""

    def __init__(self, root: Path):
        self.counters = Counters()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), handler(Path(root).resolve(), self.counters))
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def bytes_sent(self) -> int:
        return self.counters.bytes_sent

    @property
    def requests(self) -> int:
        return self.counters.requests

    def reset(self) -> None:
        self.counters.reset()


@contextmanager
def serve(root: Path | str) -> Iterator[Server]:
    """Serve the files under `root` on 127.0.0.1 (a free port) for the length of a `with` block."""
    server = Server(Path(root))
    server._thread.start()
    try:
        yield server
    finally:
        server._http.shutdown()
        server._http.server_close()
