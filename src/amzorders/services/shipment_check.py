"""Read back what Amazon did with an accepted shipment confirmation.

confirmShipment answers 204, but "a 204 does not prove the tracking reached the order"
(DESIGN.md "Amazon facts", from the Orders API v0 confirmShipment documentation: the call
is an upsert keyed by packageReferenceId, and the order's ``packages``, getOrder with
includedData PACKAGES in v2026-01-01, are what Amazon shows the buyer). After a grace
period each accepted confirmation is checked once against Amazon's order: found -> noted
(``package_seen_at``), never asked again; missing -> flagged (``tracking_missing_at``, a
history entry once, ``show``'s shipments and the sync summary), and asked again on later
runs until it shows up.

The grace period, ``SHIPMENT_GRACE`` (4 hours), is our choice: Amazon documents no delay
for a confirmation to reach the order, and it usually shows within minutes; 4 hours keeps
a slow moment from raising a false alarm while a missing package is still found the same
day. At most ``MAX_CHECKS_PER_RUN`` getOrder calls a run (getOrder: 0.5 req/s, burst 30).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from amzorders.domain.timefmt import to_iso
from amzorders.errors import AmzOrdersError

SHIPMENT_GRACE = timedelta(hours=4)
MAX_CHECKS_PER_RUN = 20


@dataclass(frozen=True, slots=True)
class MissingPackage:
    outbox_id: int
    amazon_order_id: str
    package_reference_id: str
    tracking_number: str


def _normalized(tracking: object) -> str:
    return str(tracking or "").replace(" ", "").upper()


def package_on_order(order: dict, body: dict) -> bool:
    """Whether Amazon's order shows the package a confirmShipment body sent: the same
    packageReferenceId, or the same tracking number."""
    detail = body.get("packageDetail") or {}
    reference = str(detail.get("packageReferenceId") or "")
    tracking = _normalized(detail.get("trackingNumber"))
    for package in order.get("packages") or ():
        if reference and str(package.get("packageReferenceId") or "") == reference:
            return True
        if tracking and _normalized(package.get("trackingNumber")) == tracking:
            return True
    return False


def verify_shipments(store, client, account: str, now: datetime) -> list[MissingPackage]:
    """Check accepted confirmations older than the grace period; returns every confirmation
    still missing on Amazon's order (checked now or flagged before)."""
    for record in store.shipments_to_verify(account, now - SHIPMENT_GRACE, MAX_CHECKS_PER_RUN):
        try:
            order = client.get_order(record.amazon_order_id)
        except AmzOrdersError:
            break  # Amazon unreachable or refusing: the next run asks again
        detail = record.payload.get("packageDetail") or {}
        if package_on_order(order, record.payload):
            with store.transaction():
                store.note_outbox_row(record.id, {"package_seen_at": to_iso(now), "tracking_missing_at": None}, now,
                                      expect_state="done")
            continue
        if (record.result or {}).get("tracking_missing_at"):
            continue  # flagged already: said once
        with store.transaction():
            store.note_outbox_row(record.id, {"tracking_missing_at": to_iso(now)}, now, expect_state="done")
            hours = int((now - (record.completed_at or now)).total_seconds() // 3600)
            store.add_history(
                record.amazon_order_id,
                f"Amazon's order does not show package {detail.get('packageReferenceId')} (tracking "
                f"{detail.get('trackingNumber')}) {hours} h after Amazon accepted its confirmation. Check the order in "
                "Seller Central and confirm the shipment there if it is missing.",
                source="amazon", entity_type="shipment", now=now,
            )
    return [
        MissingPackage(r.id, r.amazon_order_id, str((r.payload.get("packageDetail") or {}).get("packageReferenceId") or ""),
                       str((r.payload.get("packageDetail") or {}).get("trackingNumber") or ""))
        for r in store.shipments_missing_on_amazon(account)
    ]
