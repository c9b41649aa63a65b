"""Helpers several test files share: the live processes of /proc, headless Chromium."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, installed by .ci/run
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Fields of /proc/PID/stat after the command name: 1 = parent pid, 2 = process group.
PARENT, GROUP = 1, 2


def live_processes(field: int, value: int) -> list[int]:
    """The live (not zombie) processes whose /proc stat ``field`` (PARENT, GROUP) is ``value``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[field]) == value and fields[0] != "Z":
                found.append(int(entry.name))
    return found
