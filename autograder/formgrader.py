"""``python -m autograder formgrader --out DIR``: nbgrader's formgrader on grade-all's course.

nbgrader 0.9.6 has no ``nbgrader formgrader`` command: formgrader is a Jupyter server
extension. This starts ``jupyter server`` (this interpreter's, with its ``bin/`` first on
PATH: nbgrader runs ``alembic`` from there) in the course grade-all keeps
(``DIR/nbgrader``), as its root folder, with only the formgrader extension loaded, on
127.0.0.1 and a port that is free (or ``--port``), with a fresh token. Once formgrader
answers it prints the URL to open, token included, and serves until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .gradebook import course_folder
from .nbgrader_course import _bin_first

EXTENSION = "nbgrader.server_extensions.formgrader"
HOST = "127.0.0.1"
START_TIMEOUT = 180.0  # s; about 20 s on a loaded 2-core machine


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def server_command(course: Path, port: int, token: str, host: str = HOST) -> list[str]:
    """The ``jupyter server`` argv serving formgrader for ``course`` (run with cwd=course)."""
    root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []  # CI: root
    return [
        sys.executable,
        "-m",
        "jupyter_server",
        *root,
        f"--ServerApp.root_dir={course}",
        f"--ServerApp.ip={host}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the printed URL is the port it serves on, or it fails
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
        # Formgrader alone: no JupyterLab or notebook front end to load (faster start).
        f"--ServerApp.jpserver_extensions={EXTENSION}=True",
    ]


def url(port: int, token: str, host: str = HOST) -> str:
    """Formgrader's page on the server, with the token that logs the browser in."""
    return f"http://{host}:{port}/formgrader?token={token}"


def _answers(port: int, token: str, host: str = HOST) -> bool:
    """Whether formgrader itself answers (its API, not the server's login page)."""
    address = f"http://{host}:{port}/formgrader/api/assignments?token={token}"
    try:
        with urllib.request.urlopen(address, timeout=5) as response:
            return response.status == 200 and response.read(1) == b"["
    except (urllib.error.URLError, OSError):
        return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(
    out: Path,
    port: int | None = None,
    say: Callable[[str], None] | None = None,
    start_timeout: float = START_TIMEOUT,
) -> int:
    """Serve formgrader for grade-all's ``out`` folder until Ctrl-C; returns the exit status."""
    say = say or (lambda text: print(text, flush=True))
    course = course_folder(Path(out)).resolve()
    if not (course / "gradebook.db").is_file():
        say(
            f"error: no gradebook in {course}: run `python -m autograder grade-all SUBMISSIONS/ "
            f"--out {out}` first (without --notebooks skip)"
        )
        return 2
    port = port or free_port()
    token = secrets.token_hex(24)
    env = dict(os.environ, PATH=_bin_first(os.environ.get("PATH")))
    process = subprocess.Popen(server_command(course, port, token), cwd=course, env=env)
    address = url(port, token)
    # A SIGTERM (a test, a service manager) must stop the server too, not orphan it.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + start_timeout
        while not _answers(port, token):
            if process.poll() is not None:
                say(f"error: jupyter server exited with status {process.returncode}")
                return 1
            if time.monotonic() > deadline:
                say(f"error: formgrader did not answer within {start_timeout:g} s")
                return 1
            time.sleep(0.5)
        say(f"formgrader for {course}:\n    {address}\nCtrl-C stops it.")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if process.poll() is None:
            process.kill()
            process.wait()


__all__ = ["free_port", "serve", "server_command", "url"]
