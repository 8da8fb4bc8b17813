"""State shared by every process on one store: Amazon rate buckets and access tokens.

Amazon's buckets are per seller and application, not per process, so a cron sync and an
operator's command must draw from one bucket. Each reservation is one short IMMEDIATE
transaction: read the bucket, take a token, write it back.
"""

from __future__ import annotations

from datetime import datetime, timezone

from amzorders.domain.ratebucket import BucketState, reserve
from amzorders.store.base import StoreBase
from amzorders.store.times import read_time, stored_time


class LimitsRepository(StoreBase):
    def reserve_rate_token(self, bucket: str, rate: float, burst: int, now: float) -> float:
        """Take one token from ``bucket``; return the seconds to wait before sending."""
        with self.transaction():
            # SQLite's IMMEDIATE transaction already excludes other writers; PostgreSQL
            # locks the bucket row (FOR UPDATE), so hosts take tokens one after another.
            row = self.conn.execute(
                "SELECT tokens, updated_at FROM rate_buckets WHERE bucket = ?" + self.dialect.for_update, (bucket,)
            ).fetchone()
            if row is None and self.dialect.is_postgres:
                self.conn.execute(
                    """INSERT INTO rate_buckets (bucket, tokens, updated_at, rate, burst) VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT (bucket) DO NOTHING""",
                    (bucket, float(burst), now, rate, burst),
                )
                row = self.conn.execute(
                    "SELECT tokens, updated_at FROM rate_buckets WHERE bucket = ? FOR UPDATE", (bucket,)
                ).fetchone()
            state = BucketState(tokens=row[0], updated_at=row[1]) if row else None
            new_state, wait = reserve(state, now, rate, burst)
            self.conn.execute(
                """INSERT INTO rate_buckets (bucket, tokens, updated_at, rate, burst)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (bucket) DO UPDATE SET tokens = excluded.tokens,
                       updated_at = excluded.updated_at, rate = excluded.rate,
                       burst = excluded.burst""",
                (bucket, new_state.tokens, new_state.updated_at, rate, burst),
            )
        return wait

    def rate_bucket_states(self) -> dict[str, tuple[float, float, float, int]]:
        return {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in self.conn.execute("SELECT bucket, tokens, updated_at, rate, burst FROM rate_buckets")
        }

    def load_access_token(self, cache_key: str) -> tuple[str, float] | None:
        row = self.conn.execute(
            "SELECT token, expires_at FROM token_cache WHERE cache_key = ?", (cache_key,)
        ).fetchone()
        if row is None:
            return None
        return row[0], read_time(row[1]).timestamp()

    def save_access_token(self, cache_key: str, token: str, expires_at: float) -> None:
        # (the fraction of a second dropped: the token counts as expired a moment early)
        expires = stored_time(datetime.fromtimestamp(expires_at, timezone.utc))
        with self.transaction():
            self.conn.execute(
                """INSERT INTO token_cache (cache_key, token, expires_at) VALUES (?, ?, ?)
                   ON CONFLICT (cache_key) DO UPDATE SET token = excluded.token,
                       expires_at = excluded.expires_at""",
                (cache_key, token, expires),
            )

    def forget_access_tokens(self) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM token_cache")
