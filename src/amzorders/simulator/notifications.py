"""Notifications API v1 and an SQS-compatible queue: how the simulated Amazon tells of changes.

What it follows, and where from:

- Notifications API (notifications.json): destinations (createDestination, getDestinations,
  getDestination, deleteDestination) and subscriptions (createSubscription, getSubscription,
  getSubscriptionById, deleteSubscriptionById), request bodies checked as the model says
  (``name`` and ``resourceSpecification`` required, an SQS ARN matching
  ``^arn:aws:sqs:\\S+:\\S+:\\S+``, ``payloadVersion`` and ``destinationId`` required), a 409
  for a subscription that exists. The grantless operations (SP-API guide "Grantless
  Operations") take only a client_credentials token with the notifications scope; the others
  only a seller's token (server.py checks the token kind).
- A destination needs a queue Amazon may write to: the queue's policy must allow the
  SP-API's AWS account 437568002678 ``sqs:SendMessage`` and ``sqs:GetQueueAttributes``
  (Notifications use case guide); createDestination refuses a queue without it.
- Deliveries: the notification JSON is the SQS message body (ORDER_CHANGE as in
  OrderChangeNotification.json, FEED_PROCESSING_FINISHED as in
  FeedProcessingFinishedNotification.json). ORDER_CHANGE is sent for order status changes
  and buyer cancellation requests ("important changes include order status changes and
  buyer requested cancelations"); whether a new order gets one is not promised (Amazon's
  docs leave it open, amzn/selling-partner-api-models#2662), so it is a switch here
  (``notify_new_orders``). Amazon does not promise order or exactly-once delivery, so the
  faults ``late``, ``twice``, ``out_of_order`` and ``drop`` do what they say.
- SQS (the AWS JSON 1.0 protocol current boto3 speaks: POST / with ``X-Amz-Target:
  AmazonSQS.<Action>``): CreateQueue, GetQueueUrl, GetQueueAttributes, SetQueueAttributes,
  SendMessage, ReceiveMessage (MaxNumberOfMessages 1-10, WaitTimeSeconds 0-20,
  VisibilityTimeout, ApproximateReceiveCount), DeleteMessage (only the receipt handle of the
  latest receive), ChangeMessageVisibility. A received message stays invisible for the
  visibility timeout on the marketplace clock, so a redelivery happens when a test moves
  the clock, never because the machine was slow.

Changes are found by comparing each order's state just before and at each of its event
times (natural lifecycle events and seller/buyer mutations) since the last scan: what a
notification says is what getOrder serves.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from amzorders.domain.codes import NOTIFICATION_TYPES, SPAPI_NOTIFICATIONS_PRINCIPAL

from .core import ApiError, invalid
from .market import MAX_NATURAL_LAG, iso

if TYPE_CHECKING:
    from .core import Simulator

# The simulated AWS side: one account and region, and public test keys (not secrets).
AWS_ACCOUNT_ID = "000000000000"
AWS_REGION = "us-east-1"
AWS_TEST_CREDENTIALS = {
    "aws_access_key_id": "AKIASIMULATOR0000000",
    "aws_secret_access_key": "simulator-public-test-aws-secret-not-a-real-one",
}
DEFAULT_QUEUE = "amzorders-notifications"
APPLICATION_ID = "amzn1.sellerapps.app.simulator-0000-0000-0000-000000000000"
SELLER_ID = "A1SIMULATEDSELLER"

NOTIFICATION_OPERATIONS = frozenset({
    "getDestinations", "createDestination", "getDestination", "deleteDestination",
    "getSubscription", "createSubscription", "getSubscriptionById", "deleteSubscriptionById",
})
NOTIFICATION_FAULTS = ("late", "twice", "out_of_order", "drop")
SQS_ARN = re.compile(r"^arn:aws:sqs:\S+:\S+:\S+")
DEFAULT_VISIBILITY_TIMEOUT = 30  # SQS default (seconds)
MAX_WAIT_SECONDS = 20  # SQS long-poll bound
LATE_SECONDS = 600.0  # how late the "late" fault delivers (marketplace seconds)
SCAN_OVERLAP = 2  # seconds re-scanned each time; published keys stop repeats

# v2026 fulfillmentStatus -> ORDER_CHANGE Summary.OrderStatus (OrderChangeNotification.json enum).
ORDER_STATUS = {
    "PENDING": "Pending", "UNSHIPPED": "Unshipped", "PARTIALLY_SHIPPED": "PartiallyShipped",
    "SHIPPED": "Shipped", "CANCELLED": "Canceled", "UNFULFILLABLE": "Unfulfillable",
    "PENDING_AVAILABILITY": "PendingAvailability",
}


def initial_state() -> dict[str, Any]:
    policy = queue_policy(queue_arn(DEFAULT_QUEUE))
    return {
        "destinations": {},
        "subscriptions": {},
        "queues": {DEFAULT_QUEUE: {"created": 0, "attributes": {"Policy": policy}, "messages": []}},
        "cursor": None,
        "published": {},
        "held": None,
        "dropped": [],
        "faults": [],
        "notify_new_orders": True,
        "delivery_delay": 0.0,
        "counter": 0,
    }


def queue_arn(name: str) -> str:
    return f"arn:aws:sqs:{AWS_REGION}:{AWS_ACCOUNT_ID}:{name}"


def queue_policy(arn: str) -> str:
    """The queue policy Amazon's guide asks for: the SP-API account may send and read attributes."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": SPAPI_NOTIFICATIONS_PRINCIPAL},
            "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
            "Resource": arn,
        }],
    })


def _policy_allows_amazon(policy: str | None) -> bool:
    if not policy:
        return False
    try:
        document = json.loads(policy)
    except ValueError:
        return False
    granted: set[str] = set()
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        principals = principal.get("AWS") if isinstance(principal, dict) else principal
        principals = principals if isinstance(principals, list) else [principals]
        if not any(SPAPI_NOTIFICATIONS_PRINCIPAL in str(p) or p == "*" for p in principals):
            continue
        actions = statement.get("Action")
        granted.update(a.lower() for a in (actions if isinstance(actions, list) else [actions]) if isinstance(a, str))
    return {"sqs:sendmessage", "sqs:getqueueattributes"} <= granted or "sqs:*" in granted


class SqsError(Exception):
    """An SQS error answer (AWS JSON 1.0): HTTP status, the error type and the query-compatible code."""

    def __init__(self, status: int, error_type: str, message: str, query_code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.query_code = query_code or error_type

    def body(self) -> dict[str, Any]:
        return {"__type": f"com.amazonaws.sqs#{self.error_type}", "message": self.message}


def _no_queue() -> SqsError:
    return SqsError(400, "QueueDoesNotExist", "The specified queue does not exist.",
                    "AWS.SimpleQueueService.NonExistentQueue")


class Notifications:
    """The notification side of one Simulator (its state lives in the simulator's state file)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.published_event = threading.Condition()
        # Long polls wait in real time only when asked (a running marketplace); with a
        # frozen clock an empty queue answers at once: nothing can arrive while nobody acts.
        self.real_long_poll = sim._store.data.get("frozen_at") is None

    def _data(self, data: dict[str, Any]) -> dict[str, Any]:
        return data.setdefault("notifications", initial_state())

    # ----- test hooks -----

    def inject(self, kind: str, count: int = 1) -> None:
        if kind not in NOTIFICATION_FAULTS:
            raise ValueError(f"unknown notification fault {kind!r}; choose one of {', '.join(NOTIFICATION_FAULTS)}")
        with self.sim._store.write() as data:
            self._data(data)["faults"].append({"kind": kind, "count": count})

    def configure(self, *, notify_new_orders: bool | None = None, delivery_delay: float | None = None) -> None:
        with self.sim._store.write() as data:
            n = self._data(data)
            if notify_new_orders is not None:
                n["notify_new_orders"] = bool(notify_new_orders)
            if delivery_delay is not None:
                n["delivery_delay"] = float(delivery_delay)

    def subscribed(self) -> bool:
        with self.sim._lock:
            self.sim._sync()
            return bool(self._data(self.sim._store.data)["subscriptions"])

    def dropped(self) -> list[dict[str, Any]]:
        with self.sim._lock:
            self.sim._sync()
            return list(self._data(self.sim._store.data)["dropped"])

    def queue_messages(self, name: str = DEFAULT_QUEUE) -> list[dict[str, Any]]:
        """Every message in the queue (visible or not), oldest first."""
        self.publish()
        with self.sim._lock:
            queue = self._data(self.sim._store.data)["queues"].get(name)
            return [dict(m) for m in (queue or {}).get("messages", [])]

    # ----- Notifications API -----

    def handle(self, operation: str, path_id: str | None, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if operation == "getDestinations":
            with self.sim._lock:
                self.sim._sync()
                return 200, {"payload": list(self._data(self.sim._store.data)["destinations"].values())}
        if operation == "createDestination":
            return 200, {"payload": self._create_destination(body)}
        if operation == "getDestination":
            with self.sim._lock:
                self.sim._sync()
                found = self._data(self.sim._store.data)["destinations"].get(path_id or "")
            if found is None:
                raise ApiError(404, "NotFound", f"Destination {path_id} was not found.")
            return 200, {"payload": found}
        if operation == "deleteDestination":
            return 200, self._delete_destination(path_id or "")
        if operation == "getSubscription":
            return 200, {"payload": self._get_subscription(path_id or "", query)}
        if operation == "createSubscription":
            return 200, {"payload": self._create_subscription(path_id or "", body)}
        if operation in ("getSubscriptionById", "deleteSubscriptionById"):
            kind, _, subscription_id = (path_id or "").partition("/")
            return 200, self._by_id(operation, kind, subscription_id)
        raise ApiError(404, "NotFound", f"Unknown operation {operation}.")

    def _create_destination(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid("The request body must be a CreateDestinationRequest object.")
        name, spec = body.get("name"), body.get("resourceSpecification")
        if not isinstance(name, str) or not name:
            raise invalid("name is required: a developer-defined name of the destination.")
        if len(name) > 256:
            raise invalid("name must be at most 256 characters.")
        if not isinstance(spec, dict):
            raise invalid("resourceSpecification is required.")
        kinds = [k for k in ("sqs", "eventBridge") if k in spec]
        if len(kinds) != 1:
            raise invalid("resourceSpecification must name exactly one resource type: sqs or eventBridge.")
        if kinds[0] == "eventBridge":
            raise invalid("The simulator delivers to SQS destinations only.")
        arn = spec["sqs"].get("arn") if isinstance(spec["sqs"], dict) else None
        if not isinstance(arn, str) or len(arn) > 1000 or not SQS_ARN.match(arn):
            raise invalid(f"sqs.arn {str(arn)[:80]!r} is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME).")
        with self.sim._store.write() as data:
            n = self._data(data)
            for destination in n["destinations"].values():
                if destination["resource"].get("sqs", {}).get("arn") == arn:
                    raise ApiError(409, "Conflict", "A destination for this SQS queue already exists.",
                                   f"destinationId {destination['destinationId']}")
            queue = self._queue_by_arn(n, arn)
            if queue is None or not _policy_allows_amazon(queue["attributes"].get("Policy")):
                raise invalid(
                    "Amazon cannot deliver to this queue: it does not exist, or its policy does not allow "
                    f"the AWS account {SPAPI_NOTIFICATIONS_PRINCIPAL} sqs:SendMessage and sqs:GetQueueAttributes.")
            destination_id = str(uuid.uuid4())
            destination = {"name": name, "destinationId": destination_id, "resource": {"sqs": {"arn": arn}}}
            n["destinations"][destination_id] = destination
            return destination

    def _delete_destination(self, destination_id: str) -> dict[str, Any]:
        with self.sim._store.write() as data:
            n = self._data(data)
            if destination_id not in n["destinations"]:
                raise ApiError(404, "NotFound", f"Destination {destination_id} was not found.")
            users = [k for k, s in n["subscriptions"].items() if s["destinationId"] == destination_id]
            if users:
                raise ApiError(409, "Conflict", f"Destination {destination_id} still has subscriptions ({', '.join(users)}); "
                               "delete them first.")
            del n["destinations"][destination_id]
        return {}

    def _get_subscription(self, kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
        self._check_type(kind)
        version = (query.get("payloadVersion") or [None])[-1]
        with self.sim._lock:
            self.sim._sync()
            found = self._data(self.sim._store.data)["subscriptions"].get(kind)
        if found is None or (version is not None and found["payloadVersion"] != version):
            raise ApiError(404, "NotFound", f"There is no subscription for {kind}.")
        return _public(found)

    def _create_subscription(self, kind: str, body: Any) -> dict[str, Any]:
        self._check_type(kind)
        if not isinstance(body, dict):
            raise invalid("The request body must be a CreateSubscriptionRequest object.")
        version, destination_id = body.get("payloadVersion"), body.get("destinationId")
        if not isinstance(version, str) or not isinstance(destination_id, str):
            raise invalid("payloadVersion and destinationId are required strings.")
        if version != NOTIFICATION_TYPES[kind]:
            raise invalid(f"payloadVersion {version!r} is not offered for {kind}; use {NOTIFICATION_TYPES[kind]}.")
        directive = body.get("processingDirective")
        if directive is not None:
            _check_directive(kind, directive)
        with self.sim._store.write() as data:
            n = self._data(data)
            if destination_id not in n["destinations"]:
                raise invalid(f"Destination {destination_id} does not exist.")
            if kind in n["subscriptions"]:
                raise ApiError(409, "Conflict", f"A subscription for {kind} payload version {version} already exists.",
                               f"subscriptionId {n['subscriptions'][kind]['subscriptionId']}")
            subscription = {"subscriptionId": str(uuid.uuid4()), "payloadVersion": version,
                            "destinationId": destination_id, "created": self.sim._now()}
            if directive is not None:
                subscription["processingDirective"] = directive
            n["subscriptions"][kind] = subscription
            if n["cursor"] is None:
                n["cursor"] = self.sim._now()
            return _public(subscription)

    def _by_id(self, operation: str, kind: str, subscription_id: str) -> dict[str, Any]:
        self._check_type(kind)
        with self.sim._store.write() as data:
            n = self._data(data)
            found = n["subscriptions"].get(kind)
            if found is None or found["subscriptionId"] != subscription_id:
                raise ApiError(404, "NotFound", f"Subscription {subscription_id} of {kind} was not found.")
            if operation == "getSubscriptionById":
                return {"payload": _public(found)}
            del n["subscriptions"][kind]
            return {}

    @staticmethod
    def _check_type(kind: str) -> None:
        if kind not in NOTIFICATION_TYPES:
            raise invalid(f"The simulator offers the notification types {', '.join(NOTIFICATION_TYPES)}, not {kind!r}.")

    @staticmethod
    def _queue_by_arn(n: dict[str, Any], arn: str) -> dict[str, Any] | None:
        prefix = f"arn:aws:sqs:{AWS_REGION}:{AWS_ACCOUNT_ID}:"
        return n["queues"].get(arn[len(prefix):]) if arn.startswith(prefix) else None

    # ----- publishing -----

    def publish(self) -> int:
        """Turn the changes since the last scan into notifications; return how many were queued."""
        sim = self.sim
        with sim._lock:
            now = sim._sync()
            n = self._data(sim._store.data)
            if n["cursor"] is None or not n["subscriptions"]:
                return 0
            found = self._changes(n, n["cursor"] - SCAN_OVERLAP, now)
            if not found and now - n["cursor"] < 60:
                return 0
            queued = 0
            with sim._store.write() as data:
                n = self._data(data)
                for key, event_time, document in found:
                    if key in n["published"]:
                        continue
                    n["published"][key] = event_time
                    queued += self._deliver(n, document, event_time)
                n["cursor"] = now
                floor = now - SCAN_OVERLAP - 60
                n["published"] = {k: t for k, t in n["published"].items() if t >= floor}
        if queued:
            with self.published_event:
                self.published_event.notify_all()
        return queued

    def _changes(self, n: dict[str, Any], low: float, high: float) -> list[tuple[str, float, dict[str, Any]]]:
        sim = self.sim
        market = sim.market
        subscriptions = n["subscriptions"]
        found: list[tuple[str, float, dict[str, Any]]] = []
        order_change = subscriptions.get("ORDER_CHANGE")
        if order_change is not None:
            wanted = _change_types(order_change)
            candidates = market.indices_created_between(low - MAX_NATURAL_LAG, high, high)
            seen = set(candidates)
            candidates.extend(i for i in sim._mutated if i not in seen and market.created_of(i) <= high)
            for index in candidates:
                skel = market.skeleton(index)
                times = {w for w, _ in skel.events if low < w <= high}
                times.update(int(m["t"]) for m in sim._mutations(index) or () if low < m["t"] <= high)
                created = market.created_of(index)
                if low < created <= high and n["notify_new_orders"]:
                    times.add(created)
                for when in sorted(times):
                    after = sim._state(index, when)
                    if when == created:
                        changes = [("OrderStatusChange", "NewOrder")]
                    else:
                        before = sim._state(index, when - 0.5)
                        changes = []
                        if before.status != after.status:
                            changes.append(("OrderStatusChange", "StatusChange"))
                        if after.cancel_requested and not before.cancel_requested:
                            changes.append(("BuyerRequestedChange", "Buyer Requested Cancel"))
                    for change_type, reason in changes:
                        if change_type not in wanted:
                            continue
                        document = self._order_change(n, order_change, index, after, when, change_type, reason)
                        found.append((f"o:{index}:{when}:{change_type}", float(when), document))
        feed_sub = subscriptions.get("FEED_PROCESSING_FINISHED")
        if feed_sub is not None:
            for feed in sim._store.data["feeds"].values():
                end = feed.get("endTime")
                if feed.get("processed") and end is not None and low < end <= high:
                    found.append((f"f:{feed['feedId']}", float(end), self._feed_finished(n, feed_sub, feed)))
        found.sort(key=lambda entry: entry[1])
        return found

    def _envelope_ids(self, n: dict[str, Any]) -> tuple[str, str]:
        n["counter"] = n.get("counter", 0) + 1
        return str(uuid.uuid4()), iso(self.sim._now())

    def _order_change(self, n: dict[str, Any], subscription: dict[str, Any], index: int, state: Any, when: float,
                      change_type: str, reason: str) -> dict[str, Any]:
        market = self.sim.market
        order = market.render(index, state, frozenset({"FULFILLMENT", "RECIPIENT"}))
        fulfillment = order.get("fulfillment", {})
        items = []
        shipped_total = unshipped_total = 0
        for item in order.get("orderItems", []):
            quantity = int(item.get("quantityOrdered", 0))
            shipped = int(((item.get("fulfillment") or {}).get("quantityFulfilled")) or 0)
            shipped_total += shipped
            unshipped = int(((item.get("fulfillment") or {}).get("quantityUnfulfilled")) or 0)
            unshipped_total += unshipped
            entry = {"OrderItemId": item["orderItemId"], "SellerSKU": item["product"]["sellerSku"],
                     "SupplySourceId": None, "OrderItemStatus": "Shipped" if unshipped == 0 and shipped else "Unshipped",
                     "Quantity": quantity, "QuantityShipped": shipped,
                     "IsBuyerRequestedCancel": item["orderItemId"] in state.cancel_requested}
            items.append(entry)
        address = ((order.get("recipient") or {}).get("deliveryAddress") or {})
        summary = {
            "MarketplaceId": order["salesChannel"]["marketplaceId"],
            "OrderStatus": ORDER_STATUS.get(state.status, "Pending"),
            "PurchaseDate": order.get("createdTime"),
            "DestinationPostalCode": address.get("postalCode"),
            "FulfillmentType": "AFN" if fulfillment.get("fulfilledBy") == "AMAZON" else "MFN",
            "OrderType": "StandardOrder",
            "NumberOfItemsShipped": shipped_total,
            "NumberOfItemsUnshipped": unshipped_total,
            "OrderItems": items,
        }
        notification_id, publish_time = self._envelope_ids(n)
        return {
            "NotificationVersion": "1.0",
            "NotificationType": "ORDER_CHANGE",
            "PayloadVersion": subscription["payloadVersion"],
            "EventTime": iso(when),
            "Payload": {"OrderChangeNotification": {
                "NotificationLevel": "OrderLevel",
                "SellerId": SELLER_ID,
                "AmazonOrderId": order["orderId"],
                "OrderChangeType": change_type,
                "OrderChangeTrigger": {"TimeOfOrderChange": iso(when), "ChangeReason": reason},
                "Summary": summary,
            }},
            "NotificationMetadata": {"ApplicationId": APPLICATION_ID, "SubscriptionId": subscription["subscriptionId"],
                                     "PublishTime": publish_time, "NotificationId": notification_id},
        }

    def _feed_finished(self, n: dict[str, Any], subscription: dict[str, Any], feed: dict[str, Any]) -> dict[str, Any]:
        notification_id, publish_time = self._envelope_ids(n)
        finished = {"sellerId": SELLER_ID, "accountId": f"amzn1.merchant.o.{SELLER_ID}", "feedId": feed["feedId"],
                    "feedType": feed["feedType"], "processingStatus": feed.get("status", "DONE")}
        if feed.get("resultFeedDocumentId"):
            finished["resultFeedDocumentId"] = feed["resultFeedDocumentId"]
        return {
            "notificationVersion": "2020-09-04",
            "notificationType": "FEED_PROCESSING_FINISHED",
            "payloadVersion": subscription["payloadVersion"],
            "eventTime": iso(feed["endTime"]),
            "payload": {"feedProcessingFinishedNotification": finished},
            "notificationMetadata": {"applicationId": APPLICATION_ID, "subscriptionId": subscription["subscriptionId"],
                                     "publishTime": publish_time, "notificationId": notification_id},
        }

    def _deliver(self, n: dict[str, Any], document: dict[str, Any], event_time: float) -> int:
        """Put one notification into the destination's queue, as the faults say; return messages added."""
        kind = document.get("NotificationType") or document.get("notificationType")
        subscription = n["subscriptions"].get(kind)
        destination = n["destinations"].get(subscription["destinationId"]) if subscription else None
        queue = self._queue_by_arn(n, destination["resource"]["sqs"]["arn"]) if destination else None
        if queue is None:
            return 0  # Amazon cannot deliver; the sweep must find the change
        fault = _take(n["faults"])
        body = json.dumps(document, separators=(",", ":"))
        visible_at = self.sim._now() + n.get("delivery_delay", 0.0)
        if fault == "drop":
            n["dropped"].append(document)
            return 0
        if fault == "late":
            visible_at += LATE_SECONDS
        copies = 2 if fault == "twice" else 1
        messages = [_message(body, visible_at) for _ in range(copies)]
        if fault == "out_of_order":
            n["held"] = {"queue": _queue_name(queue, n), "messages": messages}
            return 0
        queue["messages"].extend(messages)
        added = copies
        held, n["held"] = n.get("held"), None
        if held is not None:  # the held-back one arrives after this later one
            target = n["queues"].get(held["queue"])
            if target is not None:
                for message in held["messages"]:
                    message["visible_at"] = max(message["visible_at"], visible_at)
                target["messages"].extend(held["messages"])
                added += len(held["messages"])
        return added

    # ----- SQS -----

    def sqs(self, action: str, request: Any, base_url: str) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise SqsError(400, "InvalidParameterValue", "The request body must be a JSON object.")
        handler = getattr(self, f"_sqs_{action}", None)
        if handler is None:
            raise SqsError(400, "UnsupportedOperation", f"The simulator does not implement {action}.",
                           "AWS.SimpleQueueService.UnsupportedOperation")
        return handler(request, base_url)

    def queue_url(self, base_url: str, name: str = DEFAULT_QUEUE) -> str:
        return f"{base_url}/{AWS_ACCOUNT_ID}/{name}"

    def _queue_of(self, n: dict[str, Any], request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = request.get("QueueUrl")
        if not isinstance(url, str) or not url:
            raise SqsError(400, "MissingParameter", "The request must contain the parameter QueueUrl.")
        parts = url.rstrip("/").split("/")
        if len(parts) < 2 or parts[-2] != AWS_ACCOUNT_ID or parts[-1] not in n["queues"]:
            raise _no_queue()
        return parts[-1], n["queues"][parts[-1]]

    def _sqs_CreateQueue(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        name = request.get("QueueName")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name):
            raise SqsError(400, "InvalidParameterValue", "Can only include alphanumeric characters, hyphens, or "
                           "underscores. 1 to 80 in length.")
        attributes = request.get("Attributes") or {}
        with self.sim._store.write() as data:
            n = self._data(data)
            existing = n["queues"].get(name)
            if existing is not None:
                if attributes and any(existing["attributes"].get(k) != v for k, v in attributes.items()):
                    raise SqsError(400, "QueueNameExists", "A queue already exists with the same name and a "
                                   "different value for attribute(s).", "QueueAlreadyExists")
            else:
                n["queues"][name] = {"created": self.sim._now(), "attributes": dict(attributes), "messages": []}
        return {"QueueUrl": self.queue_url(base_url, name)}

    def _sqs_GetQueueUrl(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        with self.sim._lock:
            self.sim._sync()
            if request.get("QueueName") not in self._data(self.sim._store.data)["queues"]:
                raise _no_queue()
        return {"QueueUrl": self.queue_url(base_url, str(request["QueueName"]))}

    def _sqs_SetQueueAttributes(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        attributes = request.get("Attributes")
        if not isinstance(attributes, dict):
            raise SqsError(400, "MissingParameter", "The request must contain the parameter Attributes.")
        with self.sim._store.write() as data:
            _, queue = self._queue_of(self._data(data), request)
            queue["attributes"].update({str(k): str(v) for k, v in attributes.items()})
        return {}

    def _sqs_GetQueueAttributes(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        self.publish()
        names = request.get("AttributeNames") or ["All"]
        with self.sim._lock:
            now = self.sim._sync()
            n = self._data(self.sim._store.data)
            name, queue = self._queue_of(n, request)
            messages = queue["messages"]
            values = {
                "QueueArn": queue_arn(name),
                "ApproximateNumberOfMessages": str(sum(1 for m in messages if m["visible_at"] <= now)),
                "ApproximateNumberOfMessagesNotVisible": str(sum(1 for m in messages if m["visible_at"] > now and m["receive_count"])),
                "ApproximateNumberOfMessagesDelayed": str(sum(1 for m in messages if m["visible_at"] > now and not m["receive_count"])),
                "VisibilityTimeout": str(queue["attributes"].get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT)),
                "CreatedTimestamp": str(int(queue["created"])),
                **{k: v for k, v in queue["attributes"].items() if k not in ("VisibilityTimeout",)},
            }
        if "All" in names:
            return {"Attributes": values}
        return {"Attributes": {k: values[k] for k in names if k in values}}

    def _sqs_SendMessage(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        body = request.get("MessageBody")
        if not isinstance(body, str) or not body:
            raise SqsError(400, "MissingParameter", "The request must contain the parameter MessageBody.")
        delay = request.get("DelaySeconds", 0)
        with self.sim._store.write() as data:
            _, queue = self._queue_of(self._data(data), request)
            message = _message(body, self.sim._now() + float(delay or 0))
            queue["messages"].append(message)
        with self.published_event:
            self.published_event.notify_all()
        return {"MessageId": message["id"], "MD5OfMessageBody": message["md5"]}

    def _sqs_ReceiveMessage(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        maximum = request.get("MaxNumberOfMessages", 1)
        wait = request.get("WaitTimeSeconds", 0)
        if not isinstance(maximum, int) or not 1 <= maximum <= 10:
            raise SqsError(400, "InvalidParameterValue", "Value for parameter MaxNumberOfMessages is invalid. "
                           "Reason: Must be between 1 and 10, if provided.")
        if not isinstance(wait, int) or not 0 <= wait <= MAX_WAIT_SECONDS:
            raise SqsError(400, "InvalidParameterValue", "Value for parameter WaitTimeSeconds is invalid. "
                           "Reason: Must be >= 0 and <= 20, if provided.")
        timeout = request.get("VisibilityTimeout")
        if timeout is not None and (not isinstance(timeout, int) or not 0 <= timeout <= 43200):
            raise SqsError(400, "InvalidParameterValue", "Value for parameter VisibilityTimeout is invalid. "
                           "Reason: Must be between 0 and 43200, if provided.")
        wanted = set(request.get("MessageSystemAttributeNames") or []) | set(request.get("AttributeNames") or [])
        deadline = time.monotonic() + wait
        while True:
            self.publish()
            got = self._take_visible(request, maximum, wanted)
            if got or wait == 0 or not self.real_long_poll:
                return {"Messages": got} if got else {}
            left = deadline - time.monotonic()
            if left <= 0:
                return {}
            with self.published_event:
                self.published_event.wait(min(left, 0.5))

    def _take_visible(self, request: dict[str, Any], maximum: int, wanted: set[str]) -> list[dict[str, Any]]:
        with self.sim._store.write() as data:
            n = self._data(data)
            _, queue = self._queue_of(n, request)
            now = self.sim._now()
            timeout = request.get("VisibilityTimeout")
            if timeout is None:
                timeout = int(queue["attributes"].get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT))
            out = []
            for message in queue["messages"]:
                if len(out) >= maximum:
                    break
                if message["visible_at"] > now:
                    continue
                message["receive_count"] += 1
                message["receipt"] = f"{message['id']}#{secrets.token_hex(12)}"
                message["visible_at"] = now + float(timeout)
                entry = {"MessageId": message["id"], "ReceiptHandle": message["receipt"],
                         "MD5OfBody": message["md5"], "Body": message["body"]}
                attributes = {"ApproximateReceiveCount": str(message["receive_count"]),
                              "SentTimestamp": str(int(message["sent"] * 1000))}
                if "All" in wanted:
                    entry["Attributes"] = attributes
                elif wanted & set(attributes):
                    entry["Attributes"] = {k: v for k, v in attributes.items() if k in wanted}
                out.append(entry)
            return out

    def _sqs_DeleteMessage(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        handle = request.get("ReceiptHandle")
        if not isinstance(handle, str) or not handle:
            raise SqsError(400, "MissingParameter", "The request must contain the parameter ReceiptHandle.")
        with self.sim._store.write() as data:
            _, queue = self._queue_of(self._data(data), request)
            for message in queue["messages"]:
                if message.get("receipt") == handle:
                    queue["messages"].remove(message)
                    return {}
                if handle.split("#")[0] == message["id"]:
                    raise SqsError(400, "ReceiptHandleIsInvalid", "The receipt handle is not the one of the "
                                   "latest receive of this message.", "ReceiptHandleIsInvalid")
        # SQS: deleting a message already deleted succeeds quietly only with its own
        # handle; an unknown handle is refused.
        raise SqsError(400, "ReceiptHandleIsInvalid", f"The input receipt handle {handle[:40]!r} is not valid.",
                       "ReceiptHandleIsInvalid")

    def _sqs_ChangeMessageVisibility(self, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        handle, timeout = request.get("ReceiptHandle"), request.get("VisibilityTimeout")
        if not isinstance(timeout, int) or not 0 <= timeout <= 43200:
            raise SqsError(400, "InvalidParameterValue", "VisibilityTimeout must be between 0 and 43200.")
        with self.sim._store.write() as data:
            _, queue = self._queue_of(self._data(data), request)
            for message in queue["messages"]:
                if message.get("receipt") == handle:
                    message["visible_at"] = self.sim._now() + timeout
                    return {}
        raise SqsError(400, "ReceiptHandleIsInvalid", "The input receipt handle is not valid.", "ReceiptHandleIsInvalid")


def _message(body: str, visible_at: float) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "body": body, "md5": hashlib.md5(body.encode()).hexdigest(),
            "visible_at": visible_at, "receive_count": 0, "receipt": None, "sent": time.time()}


def _queue_name(queue: dict[str, Any], n: dict[str, Any]) -> str:
    return next(name for name, q in n["queues"].items() if q is queue)


def _take(faults: list[dict[str, Any]]) -> str | None:
    if not faults:
        return None
    fault = faults[0]
    fault["count"] -= 1
    if fault["count"] <= 0:
        faults.pop(0)
    return str(fault["kind"])


def _public(subscription: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in subscription.items() if k != "created"}


def _change_types(subscription: dict[str, Any]) -> set[str]:
    """The OrderChangeTypes an ORDER_CHANGE subscription's eventFilter asks for (all by default)."""
    event_filter = (subscription.get("processingDirective") or {}).get("eventFilter") or {}
    types = event_filter.get("orderChangeTypes")
    return set(types) if types else {"OrderStatusChange", "BuyerRequestedChange", "DeliveryTipChange"}


def _check_directive(kind: str, directive: Any) -> None:
    """ProcessingDirective (notifications.json): eventFilter and filterExpression are
    mutually exclusive; an eventFilter needs eventFilterType; orderChangeTypes values come
    from OrderChangeTypeEnum."""
    if not isinstance(directive, dict):
        raise invalid("processingDirective must be an object.")
    if "eventFilter" in directive and "filterExpression" in directive:
        raise invalid("eventFilter and filterExpression are mutually exclusive.")
    event_filter = directive.get("eventFilter")
    if event_filter is not None:
        if not isinstance(event_filter, dict) or event_filter.get("eventFilterType") not in (
                "ANY_OFFER_CHANGED", "ORDER_CHANGE", "SHIPMENT_TRACKING_MILESTONE_CHANGED"):
            raise invalid("eventFilter.eventFilterType is required: ANY_OFFER_CHANGED, ORDER_CHANGE or "
                          "SHIPMENT_TRACKING_MILESTONE_CHANGED.")
        if kind != "ORDER_CHANGE" or event_filter["eventFilterType"] != "ORDER_CHANGE":
            raise invalid(f"The eventFilter of type {event_filter['eventFilterType']} does not apply to {kind}.")
        types = event_filter.get("orderChangeTypes")
        if types is not None and (not isinstance(types, list) or any(
                t not in ("BuyerRequestedChange", "DeliveryTipChange", "OrderStatusChange") for t in types)):
            raise invalid("orderChangeTypes must be a list of BuyerRequestedChange, DeliveryTipChange, OrderStatusChange.")
