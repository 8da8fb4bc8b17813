"""The outbox: Amazon-bound actions, written in the same transaction as their cause.

Row states: pending (not yet accepted; sent again when due) -> submitted (a feed Amazon
accepted for processing; followed until its report) -> done (Amazon applied it: never sent
again) or failed (Amazon rejected it for good: shown, never retried silently).
"""

from __future__ import annotations

import json
from datetime import datetime

from amzorders.domain.timefmt import parse_iso, to_iso
from amzorders.domain.views import OutboxRecord
from amzorders.store.base import StoreBase

OUTBOX_KINDS = ("confirm_shipment", "cancel", "refund")
OUTBOX_STATES = ("pending", "submitted", "done", "failed")


def _record(row) -> OutboxRecord:
    return OutboxRecord(
        id=row["id"],
        account=row["account"],
        amazon_order_id=row["amazon_order_id"],
        kind=row["kind"],
        idempotency_key=row["idempotency_key"],
        payload=json.loads(row["payload_json"]),
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=parse_iso(row["next_attempt_at"]),
        last_error=row["last_error"],
        request_id=row["request_id"],
        feed_id=row["feed_id"],
        created_at=parse_iso(row["created_at"]),
        updated_at=parse_iso(row["updated_at"]),
        sent_at=parse_iso(row["sent_at"]) if row["sent_at"] else None,
        completed_at=parse_iso(row["completed_at"]) if row["completed_at"] else None,
        result=json.loads(row["result_json"]) if row["result_json"] else None,
    )


class OutboxRepository(StoreBase):
    def add_outbox_row(
        self,
        *,
        account: str,
        amazon_order_id: str,
        kind: str,
        idempotency_key: str,
        payload: dict,
        now: datetime,
    ) -> int:
        """Queue an action. Call inside the transaction that makes the local change."""
        if kind not in OUTBOX_KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        row = self.conn.execute(
            """INSERT INTO outbox (account, amazon_order_id, kind, idempotency_key, payload_json,
                   state, attempts, next_attempt_at, created_at, updated_at)
               VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?) RETURNING id""",
            (
                account,
                amazon_order_id,
                kind,
                idempotency_key,
                json.dumps(payload, ensure_ascii=False, sort_keys=True),
                to_iso(now),
                to_iso(now),
                to_iso(now),
            ),
        ).fetchone()
        return int(row[0])

    def outbox_row(self, row_id: int) -> OutboxRecord | None:
        row = self.conn.execute("SELECT * FROM outbox WHERE id = ?", (row_id,)).fetchone()
        return _record(row) if row else None

    def outbox_for_order(self, amazon_order_id: str) -> list[OutboxRecord]:
        return [
            _record(r)
            for r in self.conn.execute(
                "SELECT * FROM outbox WHERE amazon_order_id = ? ORDER BY id", (amazon_order_id,)
            )
        ]

    def list_outbox(self, states: tuple[str, ...] = (), limit: int = 100) -> list[OutboxRecord]:
        sql = "SELECT * FROM outbox"
        params: list[object] = []
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            params.extend(states)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_record(r) for r in self.conn.execute(sql, params)]

    def due_outbox_rows(self, account: str, now: datetime, kinds: tuple[str, ...] = OUTBOX_KINDS) -> list[OutboxRecord]:
        """Pending rows whose next attempt is due, oldest first."""
        marks = ",".join("?" * len(kinds))
        return [
            _record(r)
            for r in self.conn.execute(
                f"""SELECT * FROM outbox WHERE account = ? AND state = 'pending'
                       AND next_attempt_at <= ? AND kind IN ({marks}) ORDER BY id""",
                (account, to_iso(now), *kinds),
            )
        ]

    def submitted_outbox_rows(self, account: str) -> list[OutboxRecord]:
        return [
            _record(r)
            for r in self.conn.execute(
                "SELECT * FROM outbox WHERE account = ? AND state = 'submitted' ORDER BY id", (account,)
            )
        ]

    def update_outbox_row(
        self,
        row_id: int,
        *,
        now: datetime,
        state: str | None = None,
        attempts_increment: int = 0,
        next_attempt_at: datetime | None = None,
        last_error: str | None | type(...) = ...,
        request_id: str | None = None,
        feed_id: str | None = None,
        feed_document_id: str | None = None,
        result: dict | None = None,
        sent: bool = False,
        completed: bool = False,
    ) -> None:
        sets = ["updated_at = ?", "attempts = attempts + ?"]
        params: list[object] = [to_iso(now), attempts_increment]
        if state is not None:
            if state not in OUTBOX_STATES:
                raise ValueError(f"unknown outbox state {state!r}")
            sets.append("state = ?")
            params.append(state)
        if next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            params.append(to_iso(next_attempt_at))
        if last_error is not ...:
            sets.append("last_error = ?")
            params.append(last_error)
        for column, value in (("request_id", request_id), ("feed_id", feed_id), ("feed_document_id", feed_document_id)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if result is not None:
            sets.append("result_json = ?")
            params.append(json.dumps(result, ensure_ascii=False, sort_keys=True))
        if sent:
            sets.append("sent_at = ?")
            params.append(to_iso(now))
        if completed:
            sets.append("completed_at = ?")
            params.append(to_iso(now))
        params.append(row_id)
        self.conn.execute(f"UPDATE outbox SET {', '.join(sets)} WHERE id = ?", params)

    def outbox_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")}
