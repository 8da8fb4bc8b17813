"""The cron job: one sync run = pull orders, deliver the outbox, follow feeds, purge.

Runs under the store's sync lock for the account (a file lock beside a SQLite store, an
advisory lock on PostgreSQL: Store.sync_lock). The pull and the delivery are independent:
queued actions are delivered before the pull (a long backfill or a throttled search never
holds back shipments Amazon would accept) and again after it; when the pull fails, the
delivery still runs before the pull's error is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from amzorders.domain.models import utcnow
from amzorders.errors import AmazonError, AmazonRejectedError, AmazonUnavailableError
from amzorders.services.importer import ImportResult, ImportSettings, ProgressCallback, sync_orders
from amzorders.services.outbox import DeliveryReport, deliver_outbox, follow_feeds, rejected_rows_message
from amzorders.services.retention import PurgeReport, purge_pii
from amzorders.services.shipment_check import verify_shipments
from amzorders.store import Store

_log = logging.getLogger("amzorders.sync")


@dataclass(slots=True)
class SyncReport:
    pull: ImportResult | None
    delivery: DeliveryReport
    purge: PurgeReport | None
    pull_error: AmazonError | None
    rejected_message: str | None
    # Orders whose buyer asked to cancel since the last run (open, unshipped requests the
    # pull brought in): they need a person, who answers with 'cancel --reason BuyerCanceled'.
    new_cancel_requests: list[str] = field(default_factory=list)
    # Accepted shipment confirmations whose package Amazon's order does not show after the
    # grace period (services.shipment_check): a person checks them in Seller Central.
    missing_packages: list = field(default_factory=list)

    def raise_for_problems(self) -> None:
        """Raise what needs a person, most fundamental first (cron reports non-zero)."""
        if self.pull_error is not None:
            raise self.pull_error
        if self.delivery.auth_error is not None:
            raise self.delivery.auth_error
        if self.rejected_message:
            raise AmazonRejectedError(self.rejected_message)
        stuck = self.delivery.stuck_message()
        if stuck:
            raise AmazonUnavailableError(stuck)


def run_sync(
    *,
    store: Store,
    client,
    account,
    import_settings: ImportSettings,
    since: datetime | None,
    initial_days: int,
    pii_retention_days: int | None,
    wait_seconds: float = 0.0,
    progress: ProgressCallback | None = None,
    before_pull: Callable[[], None] | None = None,
) -> SyncReport:
    with store.sync_lock(account.name, wait_seconds):
        if before_pull is not None:
            before_pull()
        pull: ImportResult | None = None
        pull_error: AmazonError | None = None
        # Reads and writes have separate usage plans at Amazon: deliver first, so what
        # operators queued goes out within this run's first seconds.
        delivery = deliver_outbox(store, client, account)
        open_requests = set(store.alert_cancel_requests(account.name))
        try:
            pull = sync_orders(
                store,
                client,
                import_settings,
                marketplace_ids=account.marketplace_ids,
                since=since,
                initial_days=initial_days,
                progress=progress,
            )
        except AmazonError as error:
            pull_error = error
        delivery.merge(deliver_outbox(store, client, account))
        delivery.merge(follow_feeds(store, client, account))
        missing = verify_shipments(store, client, account.name, utcnow())
        purge = purge_pii(store, older_than_days=pii_retention_days) if pii_retention_days else None
        rejected = store.failed_outbox_rows(account.name)
        report = SyncReport(
            pull=pull,
            delivery=delivery,
            purge=purge,
            pull_error=pull_error,
            rejected_message=rejected_rows_message(rejected) if rejected else None,
            new_cancel_requests=[o for o in store.alert_cancel_requests(account.name) if o not in open_requests],
            missing_packages=missing,
        )
        _log_summary(account.name, report, len(rejected))
        return report


def _log_summary(account: str, report: SyncReport, rejected: int) -> None:
    """One INFO line per run: what the cron job did and what needs a person."""
    pulled = report.pull.summary() if report.pull is not None else f"pull failed: {report.pull_error}"
    needs: list[str] = []
    if rejected:
        needs.append(f"{rejected} rejected action(s)")
    if report.pull is not None and report.pull.rejected:
        needs.append(f"{len(report.pull.rejected)} order(s) not stored")
    if report.delivery.auth_error is not None:
        needs.append("credentials refused")
    if report.missing_packages:
        needs.append(f"{len(report.missing_packages)} confirmed shipment(s) not on Amazon's order")
    if report.new_cancel_requests:
        needs.append(f"{len(report.new_cancel_requests)} new buyer cancellation request(s)")
    _log.info(
        "sync summary [%s]: %s; outbox: %s; purged %d; needs a person: %s",
        account,
        pulled,
        report.delivery.summary(),
        report.purge.count if report.purge else 0,
        ", ".join(needs) or "nothing",
    )
