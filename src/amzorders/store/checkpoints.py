"""Where an interrupted search stands: its parameters and the next pagination token.

Amazon keeps a searchOrders pagination token for 24 hours and honours it only with the
same parameters (orders_2026-01-01.json, ``Pagination``). The importer saves both in the
transaction of each stored page, so a run that dies after page 20 resumes at page 21.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec

from amzorders.store.times import read_time, stored_time
from amzorders.store.base import StoreBase


class ReadCheckpoint(msgspec.Struct, frozen=True):
    account: str
    kind: str  # "sync" (lastUpdated window) or "import" (created window)
    params: dict[str, Any]  # the search parameters, as the importer passes them (JSON)
    next_token: str
    pages: int  # pages stored so far in this search
    orders: int  # orders read so far in this search
    started_at: datetime  # when the search's first page was requested
    saved_at: datetime  # when the last page (and this token) was stored


class CheckpointsRepository(StoreBase):
    def read_checkpoint(self, account: str, kind: str) -> ReadCheckpoint | None:
        row = self.conn.execute(
            """SELECT params, next_token, pages, orders, started_at, saved_at
               FROM read_checkpoints WHERE account = ? AND kind = ?""",
            (account, kind),
        ).fetchone()
        if row is None:
            return None
        return ReadCheckpoint(
            account=account,
            kind=kind,
            params=json.loads(row[0]),
            next_token=row[1],
            pages=int(row[2]),
            orders=int(row[3]),
            started_at=read_time(row[4]),
            saved_at=read_time(row[5]),
        )

    def save_read_checkpoint(self, checkpoint: ReadCheckpoint) -> None:
        """Call inside the transaction that stores the page the token came with."""
        self.conn.execute(
            """INSERT INTO read_checkpoints (account, kind, params, next_token, pages, orders, started_at, saved_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (account, kind) DO UPDATE SET params = excluded.params,
                   next_token = excluded.next_token, pages = excluded.pages, orders = excluded.orders,
                   started_at = excluded.started_at, saved_at = excluded.saved_at""",
            (
                checkpoint.account,
                checkpoint.kind,
                json.dumps(checkpoint.params, sort_keys=True),
                checkpoint.next_token,
                checkpoint.pages,
                checkpoint.orders,
                stored_time(checkpoint.started_at),
                stored_time(checkpoint.saved_at),
            ),
        )

    def clear_read_checkpoint(self, account: str, kind: str) -> None:
        self.conn.execute("DELETE FROM read_checkpoints WHERE account = ? AND kind = ?", (account, kind))
