"""The outbox: Amazon-bound actions, written in the same transaction as their cause.

Row states: pending (not yet accepted; sent again when due) -> submitted (a feed Amazon
accepted for processing; followed until its report) -> done (Amazon applied it: never sent
again) or failed (Amazon rejected it for good: shown, never retried silently).
"""

from __future__ import annotations

import json
from datetime import datetime

from amzorders.domain.timefmt import to_iso
from amzorders.store.times import read_time, read_time_or_none, stored_time
from amzorders.domain.views import OutboxRecord
from amzorders.store.base import StoreBase

# send_message / review_request: services.messaging; vat_invoice: services.vat_invoices
OUTBOX_KINDS = ("confirm_shipment", "cancel", "refund", "send_message", "review_request", "vat_invoice")
OUTBOX_STATES = ("pending", "submitted", "done", "failed")

# Bookkeeping kept in the row's result JSON (no schema change needed):
#   claim          token of the pusher currently sending the row (with next_attempt_at as its lease)
#   maybe_sent     an earlier attempt may have reached Amazon (answer lost)
#   feed           {"feed_id", "feed_document_id", "message_id", "submitted_at"} of the last feed
#   report         what Amazon's processing report / error said about the row
#   fatal_count    how many feeds carrying the row ended FATAL
#   dismissed_at   an operator acknowledged the failure ('outbox dismiss')
#   sending        {"claim", "feed_document_id", "at"}: createFeed was about to be called
#   maybe_sent_at  when the doubt began (an answer lost, or a sender killed mid-send)
#   checking       {"since", "until"}: asking Amazon (Finances API) before any resend
#   stuck_since    the feed carrying the row is not DONE after Amazon's 8 hours
#   reversed_at    Amazon refused it for good (or it was dismissed): its local change was taken back
#   voided_at      ... and it was a credit memo's action: the memo is voided (the refund ledger skips it)
#   refusal_noted_at  refused, but maybe applied by an earlier submission: marked, not reversed
#   outcome_unknown   Amazon forgot the feed carrying it: whether it was applied is unknown
#   package_seen_at   a done shipment's package was found on Amazon's order (services.shipment_check)
#   tracking_missing_at  ... or was not there when checked after the grace period (flagged)


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
        next_attempt_at=read_time(row["next_attempt_at"]),
        last_error=row["last_error"],
        request_id=row["request_id"],
        feed_id=row["feed_id"],
        created_at=read_time(row["created_at"]),
        updated_at=read_time(row["updated_at"]),
        sent_at=read_time_or_none(row["sent_at"]),
        completed_at=read_time_or_none(row["completed_at"]),
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
                stored_time(now),
                stored_time(now),
                stored_time(now),
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

    def due_outbox_rows(self, account: str, now: datetime, kinds: tuple[str, ...] = OUTBOX_KINDS) -> list[OutboxRecord]:
        """Pending rows whose next attempt is due, oldest first."""
        marks = ",".join("?" * len(kinds))
        return [
            _record(r)
            for r in self.conn.execute(
                f"""SELECT * FROM outbox WHERE account = ? AND state = 'pending'
                       AND next_attempt_at <= ? AND kind IN ({marks}) ORDER BY id""",
                (account, stored_time(now), *kinds),
            )
        ]

    def submitted_outbox_rows(self, account: str) -> list[OutboxRecord]:
        return [
            _record(r)
            for r in self.conn.execute(
                "SELECT * FROM outbox WHERE account = ? AND state = 'submitted' ORDER BY id", (account,)
            )
        ]

    def claim_outbox_rows(
        self,
        account: str,
        now: datetime,
        lease_until: datetime,
        *,
        row_ids: list[int] | None = None,
        kinds: tuple[str, ...] = OUTBOX_KINDS,
    ) -> tuple[str, list[OutboxRecord]]:
        """Atomically take the due pending rows (of ``row_ids`` when given) for sending.

        Re-reads the rows inside one write transaction and pushes their next attempt to
        ``lease_until``, so a second pusher (a command and a cron sync) does not see them as
        due. Returns the claim token and the rows claimed (possibly none).
        """
        import secrets  # here, not at the top: hashlib/hmac cost start-up of every command

        token = secrets.token_hex(8)
        marks = ",".join("?" * len(kinds))
        sql = (
            f"SELECT * FROM outbox WHERE account = ? AND state = 'pending' AND next_attempt_at <= ?"
            f" AND kind IN ({marks})"
        )
        params: list[object] = [account, stored_time(now), *kinds]
        if row_ids is not None:
            if not row_ids:
                return token, []
            sql += f" AND id IN ({','.join('?' * len(row_ids))})"
            params.extend(row_ids)
        # PostgreSQL: rows another host is claiming right now are skipped, not waited for.
        sql += " ORDER BY id" + self.dialect.skip_locked
        with self.transaction():
            rows = self.conn.execute(sql, params).fetchall()
            for row in rows:
                self.conn.execute(
                    """UPDATE outbox SET next_attempt_at = ?, updated_at = ?,
                           result_json = json_patch(coalesce(result_json, '{}'), ?) WHERE id = ?""",
                    (stored_time(lease_until), stored_time(now), json.dumps({"claim": token}), row["id"]),
                )
            ids = [row["id"] for row in rows]
            claimed = [self.outbox_row(row_id) for row_id in ids]
        return token, [record for record in claimed if record is not None]

    def finish_outbox_row(
        self,
        row_id: int,
        *,
        now: datetime,
        state: str,
        expect_state: str = "pending",
        claim: str | None = None,
        feed_id: str | None = None,
        attempts_increment: int = 0,
        next_attempt_at: datetime | None = None,
        last_error: str | None | type(...) = ...,
        request_id: str | None = None,
        new_feed_id: str | None = None,
        feed_document_id: str | None = None,
        meta: dict | None = None,
        sent: bool = False,
        completed: bool = False,
    ) -> bool:
        """Record the outcome of a send, only if the row is still as the sender left it.

        ``expect_state`` (and ``claim`` / ``feed_id`` when given) must still match; the
        claim is released. ``meta`` is merged into the row's result JSON (None values
        delete keys). Returns False when another pusher changed the row meanwhile.
        """
        if state not in OUTBOX_STATES:
            raise ValueError(f"unknown outbox state {state!r}")
        patch = dict(meta or {})
        patch.setdefault("claim", None)
        sets = [
            "state = ?",
            "updated_at = ?",
            "attempts = attempts + ?",
            "result_json = json_patch(coalesce(result_json, '{}'), ?)",
        ]
        params: list[object] = [state, stored_time(now), attempts_increment, json.dumps(patch, ensure_ascii=False)]
        if next_attempt_at is not None:
            sets.append("next_attempt_at = ?")
            params.append(stored_time(next_attempt_at))
        if last_error is not ...:
            sets.append("last_error = ?")
            params.append(last_error)
        for column, value in (("request_id", request_id), ("feed_id", new_feed_id), ("feed_document_id", feed_document_id)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if sent:
            sets.append("sent_at = ?")
            params.append(stored_time(now))
        if completed:
            sets.append("completed_at = ?")
            params.append(stored_time(now))
        where = ["id = ?", "state = ?"]
        params.extend([row_id, expect_state])
        if claim is not None:
            where.append("json_extract(result_json, '$.claim') = ?")
            params.append(claim)
        if feed_id is not None:
            where.append("feed_id = ?")
            params.append(feed_id)
        cursor = self.conn.execute(f"UPDATE outbox SET {', '.join(sets)} WHERE {' AND '.join(where)}", params)
        return cursor.rowcount == 1

    def note_outbox_claimed_rows(self, row_ids: list[int], claim: str, patch: dict, now: datetime) -> None:
        """Merge ``patch`` into the result JSON of rows still held by ``claim`` (one short
        transaction, committed at once: the note must survive a kill that follows)."""
        with self.transaction():
            for row_id in row_ids:
                self.conn.execute(
                    """UPDATE outbox SET updated_at = ?, result_json = json_patch(coalesce(result_json, '{}'), ?)
                       WHERE id = ? AND state = 'pending' AND json_extract(result_json, '$.claim') = ?""",
                    (stored_time(now), json.dumps(patch, ensure_ascii=False), row_id, claim),
                )

    def release_outbox_claim(self, row_id: int, claim: str, now: datetime, next_attempt_at: datetime) -> None:
        """Give a claimed row back untouched (a send that never started)."""
        self.conn.execute(
            """UPDATE outbox SET next_attempt_at = ?, updated_at = ?,
                   result_json = json_patch(coalesce(result_json, '{}'), '{"claim": null}')
               WHERE id = ? AND state = 'pending' AND json_extract(result_json, '$.claim') = ?""",
            (stored_time(next_attempt_at), stored_time(now), row_id, claim),
        )

    def shipments_to_verify(self, account: str, confirmed_before: datetime, limit: int) -> list[OutboxRecord]:
        """Shipment confirmations Amazon accepted before ``confirmed_before`` whose package has
        not been seen on Amazon's order yet: never checked first, then those found missing."""
        return [
            _record(r)
            for r in self.conn.execute(
                """SELECT * FROM outbox WHERE account = ? AND kind = 'confirm_shipment' AND state = 'done'
                       AND completed_at IS NOT NULL AND completed_at <= ?
                       AND json_extract(coalesce(result_json, '{}'), '$.package_seen_at') IS NULL
                   ORDER BY CASE WHEN json_extract(coalesce(result_json, '{}'), '$.tracking_missing_at') IS NULL
                                 THEN 0 ELSE 1 END, completed_at, id
                   LIMIT ?""",
                (account, stored_time(confirmed_before), limit),
            )
        ]

    def shipments_missing_on_amazon(self, account: str) -> list[OutboxRecord]:
        """Accepted shipment confirmations whose package Amazon's order did not show when checked."""
        return [
            _record(r)
            for r in self.conn.execute(
                """SELECT * FROM outbox WHERE account = ? AND kind = 'confirm_shipment' AND state = 'done'
                       AND json_extract(coalesce(result_json, '{}'), '$.tracking_missing_at') IS NOT NULL
                       AND json_extract(coalesce(result_json, '{}'), '$.package_seen_at') IS NULL
                   ORDER BY id""",
                (account,),
            )
        ]

    # -- operator actions ----------------------------------------------------------------

    def retry_outbox_row(self, row_id: int, now: datetime) -> bool:
        """A failed row back to pending, due now (its failure and dismissal forgotten)."""
        cursor = self.conn.execute(
            """UPDATE outbox SET state = 'pending', next_attempt_at = ?, updated_at = ?,
                   result_json = json_patch(coalesce(result_json, '{}'),
                       '{"dismissed_at": null, "claim": null, "fatal_count": null, "maybe_sent": null,
                         "outcome_unknown": null}')
               WHERE id = ? AND state = 'failed'""",
            (stored_time(now), stored_time(now), row_id),
        )
        return cursor.rowcount == 1

    def dismiss_outbox_row(self, row_id: int, now: datetime) -> bool:
        """Acknowledge a failed row: it stays failed (and visible) but stops alarming sync."""
        cursor = self.conn.execute(
            """UPDATE outbox SET updated_at = ?,
                   result_json = json_patch(coalesce(result_json, '{}'), ?)
               WHERE id = ? AND state = 'failed'""",
            (stored_time(now), json.dumps({"dismissed_at": to_iso(now)}), row_id),
        )
        return cursor.rowcount == 1

    def failed_outbox_rows(self, account: str | None = None, *, include_dismissed: bool = False) -> list[OutboxRecord]:
        """Rows Amazon rejected, oldest first; without the dismissed ones unless asked."""
        sql = "SELECT * FROM outbox WHERE state = 'failed'"
        params: list[object] = []
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        if not include_dismissed:
            sql += " AND json_extract(coalesce(result_json, '{}'), '$.dismissed_at') IS NULL"
        sql += " ORDER BY id"
        return [_record(r) for r in self.conn.execute(sql, params)]

    def outbox_rows_for_display(
        self, *, include_all: bool = False, account: str | None = None, limit: int = 200
    ) -> list[OutboxRecord]:
        """What 'outbox list' shows: by default everything not done and not dismissed."""
        sql = "SELECT * FROM outbox WHERE 1 = 1"
        params: list[object] = []
        if not include_all:
            sql += (
                " AND state != 'done' AND NOT (state = 'failed' AND"
                " json_extract(coalesce(result_json, '{}'), '$.dismissed_at') IS NOT NULL)"
            )
        if account is not None:
            sql += " AND account = ?"
            params.append(account)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_record(r) for r in self.conn.execute(sql, params)]
