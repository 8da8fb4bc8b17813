"""SIGTERM (cron, systemd, container runtimes) is handled like Ctrl-C: the claimed outbox
row is given back, the sync lock is freed, the log gets its end line, exit 143.

The signal is sent on the code's own progress: the simulator holds the shipment
confirmation request open, so the signal arrives exactly while sync waits for Amazon
with the row claimed (no timer decides when)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from amzorders.errors import ExitCode, Terminated
from amzorders.services.locking import lock_path_for
from amzorders.store import Store
from conftest import write_account_config

pytestmark = pytest.mark.slow


def _amzorders(home: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_"))}
    env["AMZORDERS_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "amzorders", *args], env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.mark.sqlite_only  # its subprocess environment drops the PostgreSQL redirection, or it reads the file
def test_sigterm_during_delivery_gives_the_row_back_frees_the_lock_and_exits_143(tmp_path, amzorders_home):
    from amzorders.simulator import Simulator

    with Simulator(tmp_path / "marketplace.json", seed=5, orders=40, rate_limits=False) as sim:
        write_account_config(amzorders_home, sim)
        assert _amzorders(amzorders_home, "sync", "-q").returncode == 0
        listed = _amzorders(amzorders_home, "list", "--status", "UNSHIPPED", "--channel", "MFN", "--json")
        order = json.loads(listed.stdout)[0]["amazon_order_id"]
        queued = _amzorders(amzorders_home, "ship", order, "--carrier", "UPS", "--tracking", "1Z999AA10123456784",
                            "--no-push")
        assert queued.returncode == 0, queued.stderr

        arrived, release = threading.Event(), threading.Event()
        take_fault = sim.take_fault

        def hold_the_confirmation(operation, applicable):
            if operation == "confirmShipment" and not arrived.is_set():
                arrived.set()
                release.wait(60)
                return "reset"  # the connection is dropped unanswered: Amazon never saw it
            return take_fault(operation, applicable)

        sim.take_fault = hold_the_confirmation
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AMZORDERS_", "XDG_"))}
        env["AMZORDERS_HOME"] = str(amzorders_home)
        process = subprocess.Popen([sys.executable, "-m", "amzorders", "sync"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert arrived.wait(120), "sync never sent the shipment confirmation"
            db = amzorders_home / "amzorders.db"
            store = Store.open(db)
            try:
                claimed = [r for r in store.outbox_for_order(order) if (r.result or {}).get("claim")]
                assert claimed, "the row is claimed while its request is out"
            finally:
                store.close()
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=120)
        finally:
            release.set()
            if process.poll() is None:
                process.kill()
        sim.take_fault = take_fault

        assert process.returncode == ExitCode.TERMINATED == 143, stderr
        assert "Terminated (SIGTERM)" in stderr
        assert "Traceback" not in stderr and "unexpected failure" not in stderr
        store = Store.open(db)
        try:
            rows = store.outbox_for_order(order)
            assert [(r.kind, r.state) for r in rows] == [("confirm_shipment", "pending")]
            assert not (rows[0].result or {}).get("claim"), "the claim was given back"
            integrity = store.conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            store.close()
        assert integrity == "ok"
        # The lock is free: this process can take it at once.
        with open(lock_path_for(db), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        log = (amzorders_home / "amzorders.log").read_text()
        assert "sync terminated (SIGTERM)" in log and "command end: sync exit 143" in log

        # The next run sends it at once (no 15-minute lease to wait out), exactly once.
        again = _amzorders(amzorders_home, "sync")
        assert again.returncode == 0, again.stderr
        store = Store.open(db)
        try:
            assert [(r.kind, r.state) for r in store.outbox_for_order(order)] == [("confirm_shipment", "done")]
        finally:
            store.close()


def test_terminated_inside_a_transaction_rolls_it_back(tmp_path):
    store = Store.open(tmp_path / "s.db")
    try:
        with pytest.raises(Terminated):
            with store.transaction():
                store.conn.execute("INSERT INTO sync_state (account, watermark) VALUES ('main', 1767225600)")
                raise Terminated()
        assert store.conn.execute("SELECT count(*) FROM sync_state").fetchone()[0] == 0
        assert not store.conn.in_transaction
    finally:
        store.close()
