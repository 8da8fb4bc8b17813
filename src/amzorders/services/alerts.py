"""Mail to the seller when something needs a person ([alerts] in the config).

After each sync run, the conditions below are evaluated. A condition is mailed once,
and again only when it changes (its fingerprint: the orders or rows involved); when it
clears, its record is dropped so that a recurrence is mailed again. The mail goes
through the [email] SMTP server to alerts.to.

Conditions (what the seller must act on, in Seller Central's words where it has them):
- rejected actions: outbox rows Amazon rejected and nobody retried or dismissed;
- buyer cancellation requests on orders still unshipped (Amazon: a cancel request is
  answered by cancelling, or by shipping; the Orders API reports it as
  ``BuyerRequestedCancel`` / ``buyer_cancel_requested``);
- orders about to be late: unshipped merchant orders whose ship-by (Amazon's
  ``latestShipDate``) falls within ``alerts.late_within_hours`` (or has passed);
- stuck feeds: cancel/refund feeds submitted more than ``alerts.stuck_feed_hours`` ago
  without a processing report;
- expired or refused credentials: Login with Amazon refused the account's token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from amzorders.errors import AmzOrdersError, AuthError


@dataclass(frozen=True)
class Condition:
    key: str  # stable name: "rejected", "cancel_requests", ...
    fingerprint: str  # changes when what it is about changes
    subject: str
    text: str


def current_conditions(store, account: str, now: datetime, *, late_within_hours: int, stuck_feed_hours: int,
                       auth_error: AmzOrdersError | None = None) -> list[Condition]:
    found: list[Condition] = []

    def add(key: str, items: list[str], subject: str, lines: list[str]) -> None:
        if items:
            digest = hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]
            found.append(Condition(key, digest, subject, "\n".join(lines)))

    rejected = store.failed_outbox_rows(account)
    add("rejected", [str(r.id) for r in rejected], f"{len(rejected)} action(s) rejected by Amazon",
        [f"#{r.id} {r.kind} {r.amazon_order_id}: {r.last_error or 'no reason given'}" for r in rejected]
        + ["", "Fix and 'amzorders outbox retry ID', or 'amzorders outbox dismiss ID'."])
    requests = store.alert_cancel_requests(account)
    add("cancel_requests", requests, f"{len(requests)} buyer cancellation request(s)",
        [f"{order_id}" for order_id in requests] + ["", "Cancel with 'amzorders cancel ORDER --reason BuyerCanceled', or ship."])
    late = store.alert_due_orders(account, now + timedelta(hours=late_within_hours))
    add("late", [o for o, _ in late], f"{len(late)} order(s) to ship within {late_within_hours} h or late",
        [f"{order_id}  ship by {ship_by}" for order_id, ship_by in late] + ["", "See 'amzorders list --late' and 'amzorders list --ship-by today'."])
    stuck = store.alert_stuck_feeds(account, now - timedelta(hours=stuck_feed_hours))
    add("stuck_feeds", [str(i) for i, _ in stuck], f"{len(stuck)} feed action(s) without Amazon's answer for {stuck_feed_hours} h",
        [f"#{row_id} feed {feed_id}" for row_id, feed_id in stuck] + ["", "See 'amzorders outbox list'; sync keeps following them."])
    if isinstance(auth_error, AuthError):
        add("credentials", ["auth"], "Amazon refused the account's credentials",
            [auth_error.message, "", "Renew the refresh token in Seller Central and update the config ('amzorders config check')."])
    return found


def conditions_to_mail(store, account: str, conditions: list[Condition], now: datetime) -> list[Condition]:
    """The conditions not mailed yet in this form; records them, forgets cleared ones."""
    known = store.alert_fingerprints(account)
    due = [c for c in conditions if known.get(c.key) != c.fingerprint]
    current = {c.key for c in conditions}
    with store.transaction():
        for key in set(known) - current:
            store.forget_alert(account, key)
    return due


def mark_mailed(store, account: str, condition: Condition, now: datetime) -> None:
    with store.transaction():
        store.record_alert(account, condition.key, condition.fingerprint, now)


def alert_mail(to: str, account: str, condition: Condition):
    from amzorders.mail import OutgoingMail

    return OutgoingMail(to=to, subject=f"amzorders [{account}]: {condition.subject}", body=condition.text + "\n")


def send_alerts(store, account: str, alerts, email, now: datetime, auth_error: AmzOrdersError | None = None) -> list[str]:
    """Mail what needs a person (see the module doc); return the subjects mailed.

    Raises MailError when the SMTP server does not take a mail (the alert stays due)."""
    from amzorders.mail import Mailer

    conditions = current_conditions(
        store, account, now, late_within_hours=alerts.late_within_hours,
        stuck_feed_hours=alerts.stuck_feed_hours, auth_error=auth_error,
    )
    due = conditions_to_mail(store, account, conditions, now)
    if not due:
        return []
    mailer = Mailer(email)
    sent: list[str] = []
    for condition in due:
        mailer.send(alert_mail(alerts.to, account, condition))
        mark_mailed(store, account, condition, now)
        sent.append(condition.subject)
    return sent
