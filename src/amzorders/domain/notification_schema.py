"""Amazon's notification payload schemas, and a check of a notification against them.

The schemas are Amazon's own (``notifications/OrderChangeNotification.json`` and
``FeedProcessingFinishedNotification.json`` of amzn/selling-partner-api-models, copied into
``amzorders/schemas`` without their examples). They use a small part of JSON Schema
draft-07: ``type`` (one name or a list, "null" included), ``required``, ``properties``,
``enum`` and ``items``; ``check`` implements exactly that part, so no schema library is
needed at run time. Unknown properties are allowed, as the schemas do not forbid them
(Amazon adds fields without a new payload version).

The two types spell their envelope differently: ORDER_CHANGE uses PascalCase
(``NotificationMetadata.NotificationId``), FEED_PROCESSING_FINISHED camelCase
(``notificationMetadata.notificationId``); ``envelope`` reads either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_FILES = {
    "ORDER_CHANGE": "OrderChangeNotification.json",
    "FEED_PROCESSING_FINISHED": "FeedProcessingFinishedNotification.json",
}

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


@cache
def schema(notification_type: str) -> dict[str, Any]:
    text = resources.files("amzorders.schemas").joinpath(SCHEMA_FILES[notification_type]).read_text("utf-8")
    return json.loads(text)


def check(value: Any, rules: dict[str, Any], path: str = "") -> str | None:
    """What makes ``value`` not match ``rules`` (the first problem found), or None."""
    kinds = rules.get("type")
    if kinds is not None:
        names = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, name) for name in names):
            return f"{path or 'the notification'} is not {' or '.join(names)}"
    if "enum" in rules and value not in rules["enum"]:
        return f"{path} is {_short(value)}, not one of {', '.join(map(str, rules['enum']))}"
    if isinstance(value, dict):
        for name in rules.get("required", ()):
            if name not in value:
                return f"{_join(path, name)} is missing"
        for name, sub in rules.get("properties", {}).items():
            if name in value:
                problem = check(value[name], sub, _join(path, name))
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(rules.get("items"), dict):
        for n, item in enumerate(value):
            problem = check(item, rules["items"], f"{path}[{n}]")
            if problem:
                return problem
    return None


def _is(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False  # JSON true is not a number
    return isinstance(value, _TYPES.get(name, (object,)))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _short(value: Any) -> str:
    text = json.dumps(value)[:40]
    return text


@dataclass(frozen=True, slots=True)
class Envelope:
    """What every notification carries, whatever its spelling."""

    notification_type: str
    notification_id: str
    event_time: str
    payload: dict[str, Any]


class NotificationInvalid(ValueError):
    """The message is not a notification of a type we subscribe to, in its documented shape."""


def envelope(body: str) -> Envelope:
    """Parse an SQS message body (the notification JSON itself: Amazon publishes the
    notification document as the message body, no SNS wrapper) and check it against the
    schema of its type. Raises ``NotificationInvalid`` saying what is wrong."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise NotificationInvalid(f"the message body is not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise NotificationInvalid("the message body is not a JSON object")
    kind = document.get("NotificationType", document.get("notificationType"))
    if kind not in SCHEMA_FILES:
        raise NotificationInvalid(f"notification type {_short(kind)} is not one amzorders subscribes to")
    problem = check(document, schema(kind))
    if problem:
        raise NotificationInvalid(f"the {kind} notification does not match Amazon's schema: {problem}")
    if kind == "ORDER_CHANGE":
        meta, payload, event_time = document["NotificationMetadata"], document["Payload"], document["EventTime"]
        notification_id = meta["NotificationId"]
    else:
        meta, payload, event_time = document["notificationMetadata"], document["payload"], document["eventTime"]
        notification_id = meta["notificationId"]
    if not notification_id.strip():
        raise NotificationInvalid(f"the {kind} notification has an empty NotificationId")
    return Envelope(kind, notification_id, event_time, payload)
