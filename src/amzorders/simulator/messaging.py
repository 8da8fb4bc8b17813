"""The simulator's Messaging API v1, Uploads API 2020-11-01 and Solicitations API v1.

Rules, and where they come from:

- getMessagingActionsForOrder lists the kinds an order allows now. Amazon's use case guide
  says availability depends on "whether the order has been fulfilled, the type of seller,
  or the number of messages already sent"; the operation descriptions say which moment
  each kind is for. The simulator's reading: nothing for PENDING / CANCELLED orders;
  confirmOrderDetails and confirmCustomizationDetails only before shipping ("prior to
  shipping their order"); confirmDeliveryDetails and unexpectedProblem only for orders the
  seller fulfils (Amazon delivers FBA orders itself); warranty, legalDisclosure,
  digitalAccessKey and sendInvoice for every released order; confirmServiceDetails
  never (Home Services orders only). Every list also names ``attributes``, as Amazon's
  sandbox example does.
- GetAttributes: buyer.locale, one per marketplace (the marketplace's language).
- Sends validate the request schemas of messaging.json: text 1..maxLength characters
  (2000 / 800 / 400), up to 5 attachments, at least one for warranty and invoice; "Do not
  include HTML or email addresses". Links: Amazon allows those "related to" the message,
  which no program can judge, so the simulator lets links through (the client refuses
  them before sending). A kind the order does not allow now is refused.
- Attachments: createUploadDestinationForResource (marketplaceIds and contentMD5
  required) returns an uploadDestinationId and a URL; the PUT must carry a Content-MD5
  equal to contentMD5 of the bytes, and the destination may only be used for the
  resource it was created for.
- Solicitations: productReviewAndSellerFeedback is offered from 5 to 30 days after
  delivery (Amazon's "Request a Review": 5-30 days after the delivery date), once per
  order ("Send only one productReviewAndSellerFeedback or free form proactive message per
  order").

Everything received is kept in the state file (``messages``, ``solicitations``), so a
test can prove each message went exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid
from typing import TYPE_CHECKING, Any

from .market import DAY, iso

if TYPE_CHECKING:
    from .core import Simulator

LOCALES: dict[str, str] = {
    "ATVPDKIKX0DER": "en-US", "A2EUQ1WTGCTBG2": "en-CA", "A1AM78C64UM0Y8": "es-MX",
    "A1F83G8C2ARO7P": "en-GB", "A1PA6795UKMFR9": "de-DE", "A13V1IB3VIYZZH": "fr-FR",
    "APJ6JRA9NG5V4": "it-IT", "A1RKKUPIHCS9HS": "es-ES", "A1VC38T7YXB528": "ja-JP",
}

# kind -> (text maxLength or None, attachments "none"/"optional"/"required"), messaging.json
SEND_SCHEMAS: dict[str, tuple[int | None, str]] = {
    "unexpectedProblem": (2000, "none"),
    "confirmDeliveryDetails": (2000, "none"),
    "confirmOrderDetails": (2000, "none"),
    "confirmServiceDetails": (2000, "none"),
    "confirmCustomizationDetails": (800, "optional"),
    "warranty": (None, "required"),
    "legalDisclosure": (None, "optional"),
    "digitalAccessKey": (400, "optional"),
    "invoice": (None, "required"),
}
OPERATION_KINDS: dict[str, str] = {
    "createUnexpectedProblem": "unexpectedProblem",
    "createConfirmDeliveryDetails": "confirmDeliveryDetails",
    "createConfirmOrderDetails": "confirmOrderDetails",
    "createConfirmServiceDetails": "confirmServiceDetails",
    "confirmCustomizationDetails": "confirmCustomizationDetails",
    "CreateWarranty": "warranty",
    "createLegalDisclosure": "legalDisclosure",
    "createDigitalAccessKey": "digitalAccessKey",
    "sendInvoice": "invoice",
}
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("GET", r"/messaging/v1/orders/([^/]+)", "getMessagingActionsForOrder"),
    ("GET", r"/messaging/v1/orders/([^/]+)/attributes", "GetAttributes"),
    *(("POST", rf"/messaging/v1/orders/([^/]+)/messages/{kind}", operation) for operation, kind in OPERATION_KINDS.items()),
    ("POST", r"/uploads/2020-11-01/uploadDestinations/(.+)", "createUploadDestinationForResource"),
    ("GET", r"/solicitations/v1/orders/([^/]+)", "getSolicitationActionsForOrder"),
    ("POST", r"/solicitations/v1/orders/([^/]+)/solicitations/productReviewAndSellerFeedback",
     "createProductReviewAndSellerFeedbackSolicitation"),
)
OPERATIONS = frozenset(operation for _, _, operation in ROUTES)
UPLOAD_PREFIX = "/sim-uploads/"
REVIEW_WINDOW_DAYS = (5, 30)

_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


def handle(sim: Simulator, operation: str, path_id: str | None, query: dict[str, list[str]], raw: bytes,
           base_url: str) -> tuple[int, Any]:
    from .core import ApiError, invalid

    body: Any = None
    if raw:
        import json

        try:
            body = json.loads(raw)
        except ValueError:
            raise invalid("The request body is not valid JSON.") from None
    marketplace_id = _one_marketplace(query)
    assert path_id is not None
    if operation == "createUploadDestinationForResource":
        return 201, _create_upload_destination(sim, path_id, marketplace_id, query, base_url)
    with sim._lock:
        now = sim._sync()
        index = sim.market.index_of(path_id, now)
        if index is None:
            raise ApiError(404, "NotFound", f"Order {path_id} was not found.")
        skel = sim.market.skeleton(index)
        if marketplace_id != skel.marketplace_id:
            raise invalid(f"marketplaceIds {marketplace_id} is not the marketplace of order {path_id}.")
        state = sim._state(index, now)
        if operation == "getMessagingActionsForOrder":
            return 200, _links(path_id, marketplace_id, "messaging", "messages", [*allowed_kinds(skel.afn, state.status), "attributes"])
        if operation == "GetAttributes":
            return 200, {"buyer": {"locale": LOCALES.get(marketplace_id, "en-US")}}
        if operation == "getSolicitationActionsForOrder":
            allowed = _review_allowed(sim, path_id, state, now)
            return 200, _links(path_id, marketplace_id, "solicitations", "solicitations",
                               ["productReviewAndSellerFeedback"] if allowed is None else [])
        if operation == "createProductReviewAndSellerFeedbackSolicitation":
            problem = _review_allowed(sim, path_id, state, now)
            record = {"order_id": path_id, "received_at": iso(now), "accepted": problem is None, "error": problem}
            with sim._store.write() as data:
                data.setdefault("solicitations", []).append(record)
            if problem is not None:
                raise ApiError(403, "Unauthorized", problem)
            return 201, {}
        kind = OPERATION_KINDS[operation]
        record = {"order_id": path_id, "kind": kind, "received_at": iso(now), "accepted": True, "error": None,
                  "text": None, "attachments": []}
        try:
            if kind not in allowed_kinds(skel.afn, state.status):
                raise ApiError(403, "Unauthorized", f"The {kind} message is not available for order {path_id} "
                               f"({state.status}); ask getMessagingActionsForOrder which kinds are.")
            record["text"], record["attachments"] = _check_send(sim, kind, path_id, body)
        except ApiError as error:
            record.update(accepted=False, error=error.message,
                          text=body.get("text") if isinstance(body, dict) else None)
            with sim._store.write() as data:
                data.setdefault("messages", []).append(record)
            raise
        with sim._store.write() as data:
            data.setdefault("messages", []).append(record)
            for attachment in record["attachments"]:
                data["uploads"][attachment["uploadDestinationId"]]["used"] = True
        return 201, {}


def allowed_kinds(afn: bool, status: str) -> list[str]:
    if status in ("PENDING", "PENDING_AVAILABILITY", "CANCELLED"):
        return []
    kinds = []
    if status == "UNSHIPPED" and not afn:
        kinds += ["confirmOrderDetails", "confirmCustomizationDetails"]
    if not afn and status in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
        kinds += ["confirmDeliveryDetails", "unexpectedProblem"]
    kinds += ["warranty", "legalDisclosure", "digitalAccessKey", "invoice"]
    return kinds


def upload_file(sim: Simulator, destination_id: str, content: bytes, content_md5: str | None) -> tuple[int, str]:
    """The presigned PUT of an attachment: (status, error text)."""
    with sim._lock:
        sim._sync()
        upload = sim._store.data.setdefault("uploads", {}).get(destination_id)
        if upload is None:
            return 404, "NoSuchUpload"
        digest = base64.b64encode(hashlib.md5(content).digest()).decode()  # noqa: S324 - Amazon's contentMD5
        if content_md5 != upload["contentMD5"] or digest != upload["contentMD5"]:
            return 400, "BadDigest"
        with sim._store.write() as data:
            data["uploads"][destination_id].update(
                uploaded=True, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                data=base64.b64encode(content).decode())
        return 200, ""


def received_messages(sim: Simulator, order_id: str | None = None) -> list[dict[str, Any]]:
    with sim._lock:
        sim._sync()
        return [dict(m) for m in sim._store.data.get("messages", []) if order_id is None or m["order_id"] == order_id]


def received_solicitations(sim: Simulator, order_id: str | None = None) -> list[dict[str, Any]]:
    with sim._lock:
        sim._sync()
        return [dict(m) for m in sim._store.data.get("solicitations", []) if order_id is None or m["order_id"] == order_id]


def uploaded_content(sim: Simulator, destination_id: str) -> bytes | None:
    with sim._lock:
        sim._sync()
        upload = sim._store.data.get("uploads", {}).get(destination_id)
        return base64.b64decode(upload["data"]) if upload and upload.get("data") else None


def delivered_at(sim: Simulator, index: int, state: Any) -> float | None:
    """When the order reached the buyer: its last package's ship time plus the transit days."""
    if state.status != "SHIPPED" or not state.packages:
        return None
    shipped = max(float(p["shipTime"]) for p in state.packages)
    return shipped + sim.market.details(index).deliver_days * DAY


# ----- internals -----


def _one_marketplace(query: dict[str, list[str]]) -> str:
    from .core import invalid

    values = [v for raw in query.get("marketplaceIds", []) for v in raw.split(",") if v]
    if not values:
        raise invalid("marketplaceIds is required.")
    if len(values) > 1:
        raise invalid("marketplaceIds takes one marketplace (maxItems 1).")
    return values[0]


def _links(order_id: str, marketplace_id: str, api: str, segment: str, names: list[str]) -> dict[str, Any]:
    base = f"/{api}/v1/orders/{order_id}"
    query = f"?marketplaceIds={marketplace_id}"
    actions = []
    for name in names:
        href = f"{base}/attributes{query}" if name == "attributes" else f"{base}/{segment}/{name}{query}"
        actions.append({"href": href, "name": name})
    embedded = [{"_links": {"self": {"href": a["href"], "name": a["name"]},
                            "schema": {"href": a["href"].split("?")[0] + "/schema", "name": a["name"]}}}
                for a in actions if a["name"] != "attributes"]
    return {"_links": {"actions": actions, "self": {"href": base + query}}, "_embedded": {"actions": embedded}}


def _check_send(sim: Simulator, kind: str, order_id: str, body: Any) -> tuple[str | None, list[dict[str, Any]]]:
    from .core import invalid

    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    text_max, attachments_rule = SEND_SCHEMAS[kind]
    allowed = set()
    if text_max is not None:
        allowed.add("text")
    if attachments_rule != "none":
        allowed.add("attachments")
    if kind == "warranty":
        allowed |= {"coverageStartDate", "coverageEndDate"}
    unknown = set(body) - allowed
    if unknown:
        raise invalid(f"Unknown properties for {kind}: {', '.join(sorted(unknown))}.")
    text = body.get("text")
    if text_max is not None:
        if not isinstance(text, str) or len(text) < 1:
            raise invalid("text is required (minLength 1).")
        if len(text) > text_max:
            raise invalid(f"text is longer than {text_max} characters (maxLength).")
        if _TAG.search(text):
            raise invalid("text must not include HTML.")
        if _EMAIL.search(text):
            raise invalid("text must not include email addresses.")
    attachments = body.get("attachments")
    checked: list[dict[str, Any]] = []
    if attachments is not None or attachments_rule == "required":
        if not isinstance(attachments, list):
            raise invalid("attachments is required and must be a list.")
        if attachments_rule == "required" and not attachments:
            raise invalid(f"A {kind} message needs at least one attachment (minLength 1).")
        if len(attachments) > 5:
            raise invalid("At most 5 attachments (maxLength 5).")
        uploads = sim._store.data.setdefault("uploads", {})
        resource = f"messaging/v1/orders/{order_id}/messages/{kind}"
        for attachment in attachments:
            if not isinstance(attachment, dict) or not isinstance(attachment.get("uploadDestinationId"), str) \
                    or not isinstance(attachment.get("fileName"), str) or not attachment["fileName"]:
                raise invalid("Each attachment needs uploadDestinationId and fileName.")
            upload = uploads.get(attachment["uploadDestinationId"])
            if upload is None or not upload.get("uploaded"):
                raise invalid(f"uploadDestinationId {attachment['uploadDestinationId']} has no uploaded file.")
            if upload["resource"] != resource:
                raise invalid(f"uploadDestinationId {attachment['uploadDestinationId']} was created for another resource.")
            if upload.get("used"):
                raise invalid(f"uploadDestinationId {attachment['uploadDestinationId']} was already used.")
            checked.append({"uploadDestinationId": attachment["uploadDestinationId"], "fileName": attachment["fileName"],
                            "size": upload["size"], "sha256": upload["sha256"]})
    return text, checked


def _create_upload_destination(sim: Simulator, resource: str, marketplace_id: str, query: dict[str, list[str]],
                               base_url: str) -> dict[str, Any]:
    from .core import invalid

    md5 = (query.get("contentMD5") or [""])[-1]
    if not md5:
        raise invalid("contentMD5 is required.")
    try:
        if len(base64.b64decode(md5, validate=True)) != 16:
            raise ValueError
    except ValueError:
        raise invalid("contentMD5 must be the base64-encoded MD5 digest of the content.") from None
    content_type = (query.get("contentType") or ["application/octet-stream"])[-1]
    with sim._lock:
        now = sim._sync()
        destination_id = f"sc/{uuid.uuid4()}.{secrets.token_hex(4)}"
        with sim._store.write() as data:
            data.setdefault("uploads", {})[destination_id] = {
                "resource": resource.strip("/"), "marketplaceId": marketplace_id, "contentMD5": md5,
                "contentType": content_type, "created": now, "uploaded": False, "used": False}
    url = f"{base_url}{UPLOAD_PREFIX}{destination_id}?X-Amz-Expires=300&X-Amz-Signature={secrets.token_hex(16)}"
    return {"payload": {"uploadDestinationId": destination_id, "url": url,
                        "headers": {"Content-Type": content_type, "Content-MD5": md5}}}


def _review_allowed(sim: Simulator, order_id: str, state: Any, now: float) -> str | None:
    """None when a review request may be sent now, else why not."""
    if any(s["order_id"] == order_id and s["accepted"] for s in sim._store.data.get("solicitations", [])):
        return f"A review was already requested for order {order_id}; Amazon allows one per order."
    index = sim.market.index_of(order_id, now)
    delivered = delivered_at(sim, index, state) if index is not None else None
    if delivered is None:
        return f"Order {order_id} has not been delivered ({state.status}); a review can be requested 5 to 30 days after delivery."
    days = (now - delivered) / DAY
    low, high = REVIEW_WINDOW_DAYS
    if days < low:
        return f"Order {order_id} was delivered {days:.1f} days ago; a review can be requested from day {low} after delivery."
    if days > high:
        return f"Order {order_id} was delivered {days:.0f} days ago; the window to request a review closed after {high} days."
    return None
