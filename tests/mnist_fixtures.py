"""Helpers for tests/test_mnist.py: small MNIST-like IDX files and a local HTTP mirror.

Nothing here touches the network: the mirror is an http.server on 127.0.0.1 in a thread,
whose answers each test scripts request by request.
"""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

N_SMALL = 20  # images per small file


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX bytes of a uint8 array, written here by hand (not with the code under test)."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.tobytes()


def small_files(names: list[str], seed: int = 0) -> dict[str, bytes]:
    """Decompressed IDX content for each MNIST name: 20 random 28x28 images or 20 labels."""
    rng = np.random.default_rng(seed)
    files = {}
    for name in names:
        if "idx3" in name:
            array = rng.integers(0, 256, size=(N_SMALL, 28, 28), dtype=np.uint8)
        else:
            array = rng.integers(0, 10, size=N_SMALL, dtype=np.uint8)
        files[name] = idx_bytes(array)
    return files


def sha256_table(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def gz(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


def leftovers(directory: Path) -> list[str]:
    """Every name in ``directory`` (hidden temporary files included)."""
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else []


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


class Mirror:
    """A scripted HTTP mirror serving ``/mnist/<name>``.

    ``files`` maps URL file names (with .gz) to payloads. ``script[name]`` is a list of
    behaviours consumed one per request, after which requests get "ok":
    "ok" (serve), "503", "404", "truncate" (announce the full length, send half, hang up),
    "hang" (say nothing for a second). ``requests`` counts requests per file name.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.script: dict[str, list[str]] = defaultdict(list)
        self.requests: dict[str, int] = defaultdict(int)
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                mirror.requests[name] += 1
                steps = mirror.script[name]
                step = steps.pop(0) if steps else "ok"
                payload = mirror.files.get(name)
                if step == "404" or payload is None:
                    self.send_error(404)
                elif step == "503":
                    self.send_error(503)
                elif step == "hang":
                    time.sleep(1.0)
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    body = payload[: len(payload) // 2] if step == "truncate" else payload
                    self.wfile.write(body)
                    self.close_connection = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        # A short poll interval: shutdown() waits up to one interval.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
