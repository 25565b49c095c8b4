"""A real HTTP/1.1 keep-alive file server with single-range support, for tests that read over HTTP."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.bytes_sent = 0


class RangeHandler(BaseHTTPRequestHandler):
    """Serves files from `root` with single-range support; HTTP/1.1 keeps connections open."""

    protocol_version = "HTTP/1.1"
    root: Path
    stats: Stats

    def setup(self) -> None:
        super().setup()
        self.stats.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.stats.requests += 1
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = path.stat().st_size
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match is None:
            body, status, extra = path.read_bytes(), 200, {}
        else:
            start = int(match.group(1))
            end = min(int(match.group(2) or size - 1), size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            # only the range is read: a large file costs what is asked for, not its size per request
            with path.open("rb") as file:
                file.seek(start)
                body = file.read(end - start + 1)
            status = 206
            extra = {"Content-Range": f"bytes {start}-{end}/{size}"}
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        # count before writing: the client may look at the stats as soon as it has the body
        self.stats.bytes_sent += len(body)
        self.wfile.write(body)


@contextlib.contextmanager
def serve_directory(root: Path, stats: Stats | None = None) -> Iterator[str]:
    """Serve `root` on a loopback port; yield its base URL (`http://127.0.0.1:<port>`)."""
    handler = type("Handler", (RangeHandler,), {"root": root, "stats": stats or Stats()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
