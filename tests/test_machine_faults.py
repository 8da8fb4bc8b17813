"""The machine under the store fails: the disk fills up during sync and during ship, the
store is read-only. Each gets its documented exit code (8) and a message that says what to
do, the store passes integrity_check, nothing is half-written, and once the machine is
fixed the same command completes, exactly once.

The disk is filled two ways: RLIMIT_FSIZE in the child process (works anywhere; SQLite
then sees EFBIG, "disk I/O error"), and a real small tmpfs (ENOSPC, "database or disk is
full") when this user may mount one (root in a container); that case is skipped otherwise.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from amzorders.errors import ExitCode
from conftest import write_account_config

pytestmark = pytest.mark.slow

UPS = "1Z999AA10123456784"
SCHEMA_HEADROOM = 80_000  # bytes beyond the empty schema: the sync's orders cannot fit


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_"))}
    env["AMZORDERS_HOME"] = str(home)
    return env


def _run(home: Path, *args: str, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        # Without SIG_IGN the kernel kills the writer with SIGXFSZ instead of failing the write.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run([sys.executable, "-m", "amzorders", *args], env=_env(home), capture_output=True,
                          text=True, timeout=300, preexec_fn=limit if file_size_limit else None)


def _integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _count(db: Path, sql: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def _assert_cannot_write(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == ExitCode.CANNOT_WRITE == 8, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "Cannot write the order store" in errors[0] and "run the command again" in errors[0]
    for word in words:
        assert word in errors[0], errors[0]
    assert "unexpected failure" not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def account(tmp_path, amzorders_home):
    from amzorders.simulator import Simulator

    with Simulator(tmp_path / "marketplace.json", seed=21, orders=60, rate_limits=False) as sim:
        write_account_config(amzorders_home, sim)
        yield amzorders_home


def _empty_schema_size(home: Path, db: Path) -> int:
    probe = db.with_name("probe.db")
    _create_empty_store(probe)
    return probe.stat().st_size


def _create_empty_store(path: Path) -> None:
    # 'list' is read-only and never creates a store; opening one creates the empty schema.
    from amzorders.store import Store

    Store.open(path).close()


@pytest.mark.sqlite_only  # a file-size limit on the SQLite file; a PostgreSQL server has its own disk
def test_disk_full_during_sync_file_size_limit(account, tmp_path):
    db = tmp_path / "store" / "orders.db"
    limit = _empty_schema_size(account, db) + SCHEMA_HEADROOM
    full = _run(account, "--db", str(db), "sync", file_size_limit=limit)
    _assert_cannot_write(full, "ulimit -f")
    assert _integrity(db) == "ok"
    assert _count(db, "SELECT count(*) FROM sync_state WHERE watermark IS NOT NULL") == 0  # never ahead of data

    fixed = _run(account, "--db", str(db), "sync")
    assert fixed.returncode == 0, fixed.stderr
    orders = _count(db, "SELECT count(*) FROM amazon_orders")
    assert orders > 0
    assert _run(account, "--db", str(db), "sync").returncode == 0
    assert _count(db, "SELECT count(*) FROM amazon_orders") == orders
    assert _integrity(db) == "ok"


def _an_unshipped_order(home: Path, db: Path) -> str:
    listed = _run(home, "--db", str(db), "list", "--status", "UNSHIPPED", "--channel", "MFN", "--json")
    return json.loads(listed.stdout)[0]["amazon_order_id"]


def test_disk_full_during_ship_file_size_limit(account, tmp_path):
    db = tmp_path / "store" / "orders.db"
    assert _run(account, "--db", str(db), "sync").returncode == 0
    order = _an_unshipped_order(account, db)
    # Room for the shared-memory index (32 KiB) and a few WAL frames: reading works, the
    # shipment's transaction does not fit.
    limit = 33_000
    assert _run(account, "--db", str(db), "show", order, file_size_limit=limit).returncode == 0
    ship = ("--db", str(db), "ship", order, "--carrier", "UPS", "--tracking", UPS, "--no-push")
    shipments = _count(db, "SELECT count(*) FROM shipments")
    full = _run(account, *ship, file_size_limit=limit)
    _assert_cannot_write(full)
    assert _integrity(db) == "ok"
    assert _count(db, "SELECT count(*) FROM shipments") == shipments
    assert _count(db, "SELECT count(*) FROM outbox") == 0

    fixed = _run(account, *ship)
    assert fixed.returncode == 0, fixed.stderr
    assert _count(db, "SELECT count(*) FROM shipments") == shipments + 1
    assert _count(db, "SELECT count(*) FROM outbox WHERE kind = 'confirm_shipment'") == 1


@pytest.fixture
def small_tmpfs(tmp_path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(mount_point: Path, leave: int) -> Path:
    """Fill the file system until ``leave`` bytes are free."""
    stats = os.statvfs(mount_point)
    free = stats.f_bavail * stats.f_frsize
    filler = mount_point / "filler"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def test_disk_full_during_sync_and_ship_on_a_full_tmpfs(account, small_tmpfs):
    db = small_tmpfs / "orders.db"
    _create_empty_store(db)  # the empty schema fits
    filler = _fill(small_tmpfs, leave=64 * 1024)
    full = _run(account, "--db", str(db), "sync")
    _assert_cannot_write(full, "database or disk is full")
    filler.unlink()  # (checking needs room for the journal files too)
    assert _integrity(db) == "ok"
    assert _run(account, "--db", str(db), "sync").returncode == 0
    order = _an_unshipped_order(account, db)
    shipments = _count(db, "SELECT count(*) FROM shipments")
    filler = _fill(small_tmpfs, leave=0)
    ship = ("--db", str(db), "ship", order, "--carrier", "UPS", "--tracking", UPS, "--no-push")
    full = _run(account, *ship)
    _assert_cannot_write(full)
    filler.unlink()
    assert _integrity(db) == "ok"
    assert _count(db, "SELECT count(*) FROM shipments") == shipments
    assert _run(account, *ship).returncode == 0
    assert _count(db, "SELECT count(*) FROM shipments") == shipments + 1


def test_a_read_only_store(account, tmp_path):
    """Remounted read-only when this user may (root), else file modes (root ignores them)."""
    db_dir = tmp_path / "ro"
    db_dir.mkdir()
    db = db_dir / "orders.db"
    assert _run(account, "--db", str(db), "sync").returncode == 0
    before = db.read_bytes()
    if os.geteuid() == 0:
        made = subprocess.run(["mount", "--bind", str(db_dir), str(db_dir)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot bind-mount here: {made.stderr.strip()}")
        try:
            assert subprocess.run(["mount", "-o", "remount,bind,ro", str(db_dir)]).returncode == 0
            results = [_run(account, "--db", str(db), *args) for args in (("list",), ("sync",))]
        finally:
            subprocess.run(["umount", "-l", str(db_dir)], check=False)
        words = ("read-only file system",)
    else:
        db.chmod(0o400)
        db_dir.chmod(0o500)
        try:
            results = [_run(account, "--db", str(db), *args) for args in (("list",), ("sync",))]
        finally:
            db_dir.chmod(0o700)
            db.chmod(0o600)
        words = ()
    for result in results:
        assert result.returncode == ExitCode.CANNOT_WRITE, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "writable" in errors[0], result.stderr
        for word in words:
            assert word in errors[0]
        assert "unexpected failure" not in result.stderr
    assert db.read_bytes() == before
    assert _integrity(db) == "ok"
