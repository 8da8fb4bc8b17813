"""Purge buyer personal data that Amazon's Data Protection Policy no longer lets us keep.

Amazon's rule: buyer personal data is kept no longer than 30 days after delivery. Which
orders are due, what is removed and what is kept for accounting is decided (and
documented) in ``amzorders.store.retention``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from amzorders.domain.models import utcnow
from amzorders.errors import UsageError
from amzorders.store import Store

DEFAULT_RETENTION_DAYS = 30  # Amazon's Data Protection Policy


@dataclass(slots=True)
class PurgeReport:
    older_than_days: int
    cutoff: datetime  # retention clocks started at or before this are due
    dry_run: bool
    order_ids: list[str] = field(default_factory=list)  # purged (or, in a dry run, due)
    compacted: bool = False  # VACUUM + WAL truncation done after the purge
    warning: str | None = None  # what kept the file from being compacted
    poison_bodies_blanked: int = 0  # set-aside notification bodies blanked (listen's poison messages)

    @property
    def count(self) -> int:
        return len(self.order_ids)

    def summary(self) -> str:
        scope = f"orders shipped/delivered or cancelled more than {self.older_than_days} days ago"
        if self.dry_run:
            return f"{self.count} order(s) due for a buyer data purge ({scope}); nothing changed (dry run)"
        text = f"Buyer personal data purged from {self.count} order(s) ({scope})"
        if self.poison_bodies_blanked:
            text += f"; {self.poison_bodies_blanked} set-aside notification message(s) blanked"
        return text


def purge_pii(
    store: Store,
    older_than_days: int = DEFAULT_RETENTION_DAYS,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PurgeReport:
    """Purge the buyer data of orders whose retention clock started ``older_than_days`` ago.

    ``dry_run`` only reports the orders that would be purged. After a purge that changed
    anything the store file is compacted (VACUUM, WAL truncated) so no copy lingers.
    """
    if older_than_days < 0:
        raise UsageError(f"--older-than must be 0 days or more (got {older_than_days}).")
    now = now or utcnow()
    cutoff = now - timedelta(days=older_than_days)
    report = PurgeReport(older_than_days=older_than_days, cutoff=cutoff, dry_run=dry_run)
    due = store.orders_due_for_pii_purge(cutoff)
    if dry_run:
        report.order_ids = due
        return report
    report.order_ids = store.purge_order_pii(due, now)
    # listen's set-aside messages may quote the same buyers (ORDER_CHANGE carries the postal code).
    report.poison_bodies_blanked = store.scrub_poison_bodies(cutoff, report.order_ids)
    if report.order_ids or report.poison_bodies_blanked:
        report.warning = store.compact_after_purge()
        report.compacted = report.warning is None
    return report
