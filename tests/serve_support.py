"""`amzorders simulator serve` as a real process for tests: started on a free port, its
banner (endpoints, the config to paste, AWS keys) read from stderr up to the Ctrl-C line."""

from __future__ import annotations

import os
import subprocess


def start_serve(argv: list[str]) -> tuple[subprocess.Popen, list[str]]:
    """Start ``argv`` (a command line ending in ``simulator serve ...``) and return the
    process with its banner lines. The caller stops it (SIGINT) in a ``finally``."""
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "COLUMNS": "200"})
    lines: list[str] = []
    while process.stderr is not None:
        line = process.stderr.readline()
        lines.append(line)
        if "Ctrl-C" in line or not line:  # the banner's last line, or the process ended
            break
    return process, lines


def endpoint(lines: list[str]) -> str:
    """The SP-API base URL the banner printed."""
    return next(line.split()[-1] for line in lines if "SP-API endpoint" in line)
