"""Peak memory of `ship --from-csv` fed 1 GB: the 20 MB limit applies while reading.

Inputs (none kept on disk: the 1 GB file is sparse and deleted afterwards):
- a sparse 1 GB file: a header, then 1 GB of NUL bytes on one line;
- 1 GB of well-formed rows piped to `--from-csv -` by a generator (stops when the reader
  closes the pipe);
- /dev/zero (endless);
- a 4 MB file of 45,000 rows (under the limits: read whole, every row checked), for scale.

Each run is its own `amzorders` process; peak RSS is its ru_maxrss (wait4), next to the
same process's `list` on the empty store as a baseline.

Run: .venv/bin/python benchmarks/csv_memory.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PYTHON, clean_env, table  # noqa: E402

GB = 1024**3
ROW = b"111-0000001-0000001,UPS,1Z999AA10123456784\n"


def _measure(argv: list[str], env: dict[str, str], feed=None) -> tuple[float, int, float, str]:
    """(peak RSS MB, exit code, seconds, last stderr line) of one process."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    feeder = None
    if feed:
        feeder = threading.Thread(target=feed, args=(process.stdin,), daemon=True)
        feeder.start()
    stderr = process.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if feeder:
        feeder.join(5)
    last = [line for line in stderr.splitlines() if line.startswith("Error:")] or stderr.splitlines()[-1:]
    return usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), elapsed, (last[0] if last else "")[:110]


def _feed_gigabyte(pipe) -> None:
    chunk = b"order,carrier,tracking\n" + ROW * (1024 * 1024 // len(ROW))
    sent = 0
    try:
        while sent < GB:
            pipe.write(chunk)
            sent += len(chunk)
            chunk = ROW * (1024 * 1024 // len(ROW))
        pipe.close()
    except (BrokenPipeError, OSError):
        pass  # the reader refused the rest: the point


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="amzorders-csvmem-") as tmp:
        tmp_path = Path(tmp)
        env = clean_env(tmp_path / "home")
        db = tmp_path / "orders.db"
        base = [PYTHON, "-m", "amzorders", "--db", str(db)]
        sparse = tmp_path / "sparse-1gb.csv"
        with sparse.open("wb") as handle:
            handle.write(b"order,carrier,tracking\n")
            handle.truncate(GB)
        rows_4mb = tmp_path / "rows-2mb.csv"
        with rows_4mb.open("wb") as handle:
            handle.write(b"order,carrier,tracking\n")
            handle.write(ROW * (2 * 1024 * 1024 // len(ROW)))
        runs = [
            ("baseline: list (empty store)", base + ["list"], None),
            ("sparse 1 GB file (one 1 GB line of NULs)", base + ["ship", "--from-csv", str(sparse), "--no-push"], None),
            ("1 GB of rows on stdin (--from-csv -)", base + ["ship", "--from-csv", "-", "--no-push"], _feed_gigabyte),
            ("/dev/zero", base + ["ship", "--from-csv", "/dev/zero", "--no-push"], None),
            ("2 MB, 45,000 rows of unknown orders (under both limits, every row checked)", base + ["ship", "--from-csv", str(rows_4mb), "--dry-run"], None),
        ]
        rows = []
        for label, argv, feed in runs:
            rss, code, seconds, message = _measure(argv, env, feed)
            rows.append((label, f"{rss:.0f}", code, f"{seconds:.1f}", message))
        sparse.unlink()
    print(table(("input", "peak RSS MB", "exit", "s", "message"), rows))


if __name__ == "__main__":
    main()
