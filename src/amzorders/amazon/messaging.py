"""Messaging API v1, Uploads API 2020-11-01 and Solicitations API v1 calls.

Functions over an ``SpApiClient`` (its token buckets, retries and error mapping), kept
apart from client.py because they are a separate group of Amazon APIs. All facts from
Amazon's models: messaging.json, uploads_2020-11-01.json, solicitations.json.

Sends are not idempotent at Amazon (nothing in the models deduplicates a message or a
solicitation), so they are never resent once an attempt may have reached Amazon: such a
failure carries ``maybe_delivered`` and the outbox leaves it for a person.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from amzorders.amazon.client import (
    DOCUMENTED_RESPONSES,
    SpApiClient,
    _delivered,
    _json_object,
    _requires,
    _segment,
    _shape_error,
)
from amzorders.errors import AmazonError, AmazonUnavailableError, UsageError

MESSAGING_PATH = "/messaging/v1/orders"
UPLOADS_PATH = "/uploads/2020-11-01/uploadDestinations"
SOLICITATIONS_PATH = "/solicitations/v1/orders"
REVIEW_SOLICITATION = "productReviewAndSellerFeedback"


# The 2xx response schemas of these operations (messaging.json, uploads_2020-11-01.json,
# solicitations.json): a 2xx without them, or with an errors list, is not data.
DOCUMENTED_RESPONSES.update({
    "getMessagingActionsForOrder": _requires(_links=dict),  # GetMessagingActionsForOrderResponse
    "getSolicitationActionsForOrder": _requires(_links=dict),  # GetSolicitationActionsForOrderResponse
    "GetAttributes": _requires(),  # GetAttributesResponse: buyer is optional
    "createUploadDestinationForResource": _requires(payload=dict),  # CreateUploadDestinationResponse
})


@dataclass(frozen=True)
class UploadedFile:
    upload_destination_id: str
    file_name: str


def get_messaging_actions(client: SpApiClient, order_id: str, marketplace_id: str) -> list[str]:
    """The message kinds Amazon allows for the order now (getMessagingActionsForOrder).

    Amazon answers with HAL links: ``_links.actions[].name`` names each allowed action
    (it also lists ``attributes``, which is not a message)."""
    outcome = client._call(
        "getMessagingActionsForOrder", "GET", f"{MESSAGING_PATH}/{_segment(order_id)}",
        params={"marketplaceIds": marketplace_id},
    )
    return _action_names(outcome, "getMessagingActionsForOrder")


def get_attributes(client: SpApiClient, order_id: str, marketplace_id: str) -> str | None:
    """The buyer's language of preference, a locale tag such as "de-DE" (GetAttributes)."""
    outcome = client._call(
        "GetAttributes", "GET", f"{MESSAGING_PATH}/{_segment(order_id)}/attributes",
        params={"marketplaceIds": marketplace_id},
    )
    body = _json_object(outcome, "GetAttributes")
    buyer = body.get("buyer")
    if buyer is not None and not isinstance(buyer, dict):
        raise _shape_error("GetAttributes", outcome, "'buyer' is not an object")
    locale = (buyer or {}).get("locale")
    return str(locale) if isinstance(locale, str) and locale else None


def send_message(
    client: SpApiClient, order_id: str, marketplace_id: str, kind_name: str, operation: str, body: dict[str, Any]
) -> str | None:
    """POST one message; returns Amazon's request id. Never resent after it may have arrived."""
    path = f"{MESSAGING_PATH}/{_segment(order_id)}/messages/{_segment(kind_name)}"
    return _create(client, operation, path, marketplace_id, body)


def create_review_solicitation(client: SpApiClient, order_id: str, marketplace_id: str) -> str | None:
    """createProductReviewAndSellerFeedbackSolicitation (no body); Amazon's request id."""
    path = f"{SOLICITATIONS_PATH}/{_segment(order_id)}/solicitations/{REVIEW_SOLICITATION}"
    return _create(client, "createProductReviewAndSellerFeedbackSolicitation", path, marketplace_id, None)


def get_solicitation_actions(client: SpApiClient, order_id: str, marketplace_id: str) -> list[str]:
    """The solicitations Amazon allows now (getSolicitationActionsForOrder): empty outside
    the window Amazon allows (after delivery), or once one was sent."""
    outcome = client._call(
        "getSolicitationActionsForOrder", "GET", f"{SOLICITATIONS_PATH}/{_segment(order_id)}",
        params={"marketplaceIds": marketplace_id},
    )
    return _action_names(outcome, "getSolicitationActionsForOrder")


def upload_attachment(
    client: SpApiClient, resource: str, marketplace_id: str, content: bytes, file_name: str, content_type: str
) -> UploadedFile:
    """createUploadDestinationForResource, then PUT the file to the URL it names.

    ``resource`` is the send operation's path without the leading slash, e.g.
    ``messaging/v1/orders/{id}/messages/invoice`` (uploads model: a greedy path parameter).
    contentMD5 is the base64 MD5 of the bytes, so Amazon can tell a corrupted upload."""
    if not content:
        raise UsageError(f"The attachment {file_name} is empty; Amazon needs the file's content.")
    md5 = base64.b64encode(hashlib.md5(content).digest()).decode()  # noqa: S324 - required by Amazon
    try:
        outcome = client._call(
            "createUploadDestinationForResource", "POST", f"{UPLOADS_PATH}/{resource.lstrip('/')}",
            params={"marketplaceIds": marketplace_id, "contentMD5": md5, "contentType": content_type},
        )
        payload = _json_object(outcome, "createUploadDestinationForResource").get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("uploadDestinationId"), str) \
                or not isinstance(payload.get("url"), str):
            raise _shape_error("createUploadDestinationForResource", outcome, "it lacks payload.uploadDestinationId or url")
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()} if isinstance(payload.get("headers"), dict) else {}
        headers.setdefault("Content-Type", content_type)
        headers.setdefault("Content-MD5", md5)
        client._transfer("uploadAttachment", "PUT", payload["url"], data=content, headers=headers)
    except AmazonError as error:
        # An upload destination is not a message: until the send, nothing reached the buyer.
        raise _delivered(error, False) from None
    return UploadedFile(payload["uploadDestinationId"], file_name)


def _create(client: SpApiClient, operation: str, path: str, marketplace_id: str, body: dict[str, Any] | None) -> str | None:
    outcome = client._call(
        operation, "POST", path, params={"marketplaceIds": marketplace_id}, json_body=body,
        resend_if_maybe_delivered=False,
    )
    # 201 with a Create...Response: an object whose only property is "errors". A 2xx that
    # still carries errors is not the documented success: whether it went out is unknown.
    answer = outcome.body
    if not isinstance(answer, dict) or answer.get("errors"):
        status = outcome.response.status_code if outcome.response is not None else None
        error = AmazonUnavailableError(
            f"Amazon's answer to {operation} is not the documented success (HTTP {status}, request id "
            f"{outcome.request_id}); the message may or may not have been sent.",
            status=status, request_id=outcome.request_id, operation=operation,
        )
        raise _delivered(error, True)
    return outcome.request_id


def _action_names(outcome: Any, operation: str) -> list[str]:
    body = _json_object(outcome, operation)
    links = body.get("_links")
    if not isinstance(links, dict) or not isinstance(links.get("actions"), list):
        raise _shape_error(operation, outcome, "it has no _links.actions list")
    names = []
    for link in links["actions"]:
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            raise _shape_error(operation, outcome, "an action link has no href")
        name = link.get("name")
        if isinstance(name, str) and name:
            names.append(name)
    return names
