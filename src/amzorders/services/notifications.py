"""notifications setup / status / remove: the destination and subscriptions at Amazon.

Notifications API v1 (notifications.json, Notifications use case guide): a destination
names the SQS queue (createDestination, grantless); a subscription per notification type
sends the seller's notifications of that type to it (createSubscription with the seller's
token; Amazon answers 409 when one exists). Setup is idempotent: it finds what exists
(getDestinations, getSubscription) before it creates anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amzorders.domain.codes import NOTIFICATION_TYPES
from amzorders.errors import NotAllowedError

DESTINATION_NAME = "amzorders"


@dataclass(slots=True)
class SetupReport:
    destination: dict[str, Any]
    destination_created: bool
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)  # notification types subscribed now

    def summary(self) -> str:
        arn = self.destination["resource"].get("sqs", {}).get("arn")
        made = "created" if self.destination_created else "found"
        subs = ", ".join(f"{kind} ({'created' if kind in self.created else 'found'})" for kind in self.subscriptions)
        return f"Destination {self.destination['destinationId']} for {arn} {made}; subscriptions: {subs}"


@dataclass(slots=True)
class StatusReport:
    queue_url: str
    queue_arn: str | None
    depth: Any  # amazon.sqs.QueueDepth, or None when the queue cannot be read
    destination: dict[str, Any] | None
    subscriptions: dict[str, dict[str, Any] | None]
    poison: list[Any]
    handled: dict[str, int]
    problems: list[str] = field(default_factory=list)


def find_destination(client, queue_arn: str) -> dict[str, Any] | None:
    for destination in client.get_destinations():
        if (destination.get("resource") or {}).get("sqs", {}).get("arn") == queue_arn:
            return destination
    return None


def setup(client, queue_arn: str) -> SetupReport:
    destination = find_destination(client, queue_arn)
    created = destination is None
    if destination is None:
        destination = client.create_destination(DESTINATION_NAME, queue_arn)
    report = SetupReport(destination=destination, destination_created=created)
    for kind, version in NOTIFICATION_TYPES.items():
        subscription = client.get_subscription(kind, version)
        if subscription is not None and subscription["destinationId"] != destination["destinationId"]:
            raise NotAllowedError(
                f"The seller's {kind} subscription ({subscription['subscriptionId']}) sends to another destination "
                f"({subscription['destinationId']}): another tool may use it. Remove it there, or run "
                "'amzorders notifications remove --all' to delete it, then run setup again."
            )
        if subscription is None:
            subscription = client.create_subscription(kind, destination["destinationId"], version)
            if subscription is None:  # 409: created meanwhile by another process
                subscription = client.get_subscription(kind, version)
            else:
                report.created.append(kind)
        if subscription is None:
            raise NotAllowedError(f"Amazon reports a {kind} subscription but does not return it; try setup again.")
        report.subscriptions[kind] = subscription
    return report


def status(client, queue, queue_url: str, store, account_name: str) -> StatusReport:
    problems: list[str] = []
    queue_arn = depth = None
    try:
        queue_arn = queue.arn()
        depth = queue.depth()
    except Exception as error:  # shown, not fatal: the Amazon side is still worth seeing
        problems.append(f"the queue cannot be read: {error}")
    destination = find_destination(client, queue_arn) if queue_arn else None
    subscriptions: dict[str, dict[str, Any] | None] = {}
    for kind, version in NOTIFICATION_TYPES.items():
        subscriptions[kind] = client.get_subscription(kind, version)
        found = subscriptions[kind]
        if found is None:
            problems.append(f"no {kind} subscription: run 'amzorders notifications setup'")
        elif destination is not None and found["destinationId"] != destination["destinationId"]:
            problems.append(f"the {kind} subscription sends to another destination ({found['destinationId']})")
    if queue_arn and destination is None:
        problems.append("no destination for this queue: run 'amzorders notifications setup'")
    poison = store.poison_messages(account_name)
    if poison:
        problems.append(f"{len(poison)} message(s) set aside: 'amzorders notifications status --json' lists them")
    return StatusReport(queue_url, queue_arn, depth, destination, subscriptions, poison,
                        store.notification_outcomes(account_name), problems)


def remove(client, queue_arn: str, *, everything: bool = False) -> list[str]:
    """Delete our subscriptions (those sending to this queue's destination; all of the
    seller's with ``everything``) and then the destination. Returns what was deleted."""
    removed: list[str] = []
    destination = find_destination(client, queue_arn)
    for kind, version in NOTIFICATION_TYPES.items():
        subscription = client.get_subscription(kind, version)
        if subscription is None:
            continue
        ours = destination is not None and subscription["destinationId"] == destination["destinationId"]
        if ours or everything:
            client.delete_subscription(kind, subscription["subscriptionId"])
            removed.append(f"{kind} subscription {subscription['subscriptionId']}")
    if destination is not None:
        client.delete_destination(destination["destinationId"])
        removed.append(f"destination {destination['destinationId']}")
    return removed
