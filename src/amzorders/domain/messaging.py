"""Buyer messages by Amazon's rules: the message kinds and what their text may hold.

Everything here comes from Amazon's Messaging API model (messaging.json, v1):

- each send operation, its path segment under /messaging/v1/orders/{amazonOrderId}/messages/,
  and its request schema (``text`` minLength 1 and maxLength 2000 / 800 / 400, up to 5
  ``attachments``, which some kinds require: ``minLength: 1``);
- every text property says "Do not include HTML or email addresses" and "Only links
  related to <the message's subject> are allowed". amzorders cannot judge whether a link
  is related, so it refuses every link: a message Amazon might refuse (or hold against the
  seller's account) is never sent on a guess. The seller can put the address in an
  attachment where a kind takes one.
- "The text must be written in the buyer's language of preference, which can be
  retrieved from the GetAttributes operation."

Amazon's communication guidelines forbid proactive order and shipping confirmations
(Amazon sends them itself), so no kind here announces a shipment or an order.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from amzorders.errors import UsageError

MAX_ATTACHMENTS = 5  # every request schema: "maxLength": 5 on attachments


@dataclass(frozen=True)
class MessageKind:
    """One message type of the Messaging API."""

    name: str  # the action name Amazon lists (getMessagingActionsForOrder) and the path segment
    operation: str  # the operationId
    label: str  # for people
    text_max: int | None  # None: the kind carries no text
    attachments: str  # "none" / "optional" / "required"

    @property
    def takes_text(self) -> bool:
        return self.text_max is not None


MESSAGE_KINDS: dict[str, MessageKind] = {
    kind.name: kind
    for kind in (
        MessageKind("unexpectedProblem", "createUnexpectedProblem", "unexpected problem", 2000, "none"),
        MessageKind("confirmDeliveryDetails", "createConfirmDeliveryDetails", "confirm delivery details", 2000, "none"),
        MessageKind("confirmOrderDetails", "createConfirmOrderDetails", "confirm order details", 2000, "none"),
        MessageKind("confirmServiceDetails", "createConfirmServiceDetails", "confirm service details", 2000, "none"),
        MessageKind("confirmCustomizationDetails", "confirmCustomizationDetails", "confirm customization", 800, "optional"),
        MessageKind("warranty", "CreateWarranty", "warranty", None, "required"),
        MessageKind("legalDisclosure", "createLegalDisclosure", "legal disclosure", None, "optional"),
        MessageKind("digitalAccessKey", "createDigitalAccessKey", "digital access key", 400, "optional"),
        MessageKind("invoice", "sendInvoice", "invoice", None, "required"),
    )
}

# What people may type on the command line for a kind (kebab-case and a few short names).
KIND_ALIASES: dict[str, str] = {
    "unexpected-problem": "unexpectedProblem",
    "confirm-delivery-details": "confirmDeliveryDetails",
    "delivery": "confirmDeliveryDetails",
    "confirm-order-details": "confirmOrderDetails",
    "order-details": "confirmOrderDetails",
    "confirm-service-details": "confirmServiceDetails",
    "confirm-customization": "confirmCustomizationDetails",
    "confirm-customization-details": "confirmCustomizationDetails",
    "customization": "confirmCustomizationDetails",
    "legal-disclosure": "legalDisclosure",
    "digital-access-key": "digitalAccessKey",
    "send-invoice": "invoice",
}

_TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
_ENTITY = re.compile(r"&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+\s*(@|\(at\)|\[at\])\s*[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(
    r"(\b[a-z][a-z0-9+.\-]*://\S+)"  # any scheme: http://, https://, ftp://
    r"|(\bwww\.\S+)"
    r"|(\b[a-z0-9\-]+(\.[a-z0-9\-]+)*\.(com|net|org|info|biz|io|co|de|fr|it|es|uk|jp|ca|mx|nl|se|pl|eu|shop|store|app|ly|me)\b(/\S*)?)",
    re.IGNORECASE,
)


def resolve_kind(text: str) -> MessageKind:
    """The kind named by ``text`` (Amazon's name, case-insensitive, or a kebab-case alias)."""
    wanted = text.strip()
    by_folded = {name.casefold(): kind for name, kind in MESSAGE_KINDS.items()}
    kind = by_folded.get(wanted.casefold())
    if kind is None and wanted.casefold() in KIND_ALIASES:
        kind = MESSAGE_KINDS[KIND_ALIASES[wanted.casefold()]]
    if kind is None:
        names = ", ".join(MESSAGE_KINDS)
        raise UsageError(f"Unknown message kind {text!r}; use one of {names} (see 'amzorders message ORDER').")
    return kind


def check_message_text(kind: MessageKind, text: str | None) -> str | None:
    """The text as it will be sent, or UsageError saying which of Amazon's rules it breaks."""
    if not kind.takes_text:
        if text:
            raise UsageError(
                f"A {kind.name} message carries no text (Amazon's {kind.operation} takes only attachments); "
                "leave out --text and attach the document with --attach FILE."
            )
        return None
    if text is None or not text.strip():
        raise UsageError(f"A {kind.name} message needs its text: give --text \"...\" (1 to {kind.text_max} characters).")
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    if len(text) > kind.text_max:  # type: ignore[operator]
        raise UsageError(
            f"The text has {len(text)} characters; Amazon's {kind.operation} takes at most {kind.text_max}. Shorten it."
        )
    for position, char in enumerate(text):
        if char in "\n\t":
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            raise UsageError(
                f"The text holds a control or invisible character (U+{ord(char):04X} at position {position + 1}); "
                "remove it - only plain text and line breaks are sent."
            )
    found = text_problem(text)
    if found:
        raise UsageError(f"The text {found}; Amazon's rules for {kind.name} messages forbid it. Nothing was sent.")
    return text


def text_problem(text: str) -> str | None:
    """What in ``text`` Amazon's messaging rules forbid, as a phrase, or None."""
    tag = _TAG.search(text)
    if tag:
        return f"contains HTML ({tag.group(0)[:40]!r})"
    entity = _ENTITY.search(text)
    if entity:
        return f"contains an HTML entity ({entity.group(0)!r})"
    email = _EMAIL.search(text)
    if email:
        return "contains an e-mail address"
    url = _URL.search(text)
    if url:
        return (
            f"contains a link ({url.group(0)[:60]!r}: Amazon allows only links related to the message's "
            "subject, which amzorders cannot judge, so it sends none)"
        )
    return None


def language_of(locale: str | None) -> str:
    """The language part of a locale tag such as "de-DE" (GetAttributes buyer.locale)."""
    if not locale:
        return "en"
    return locale.replace("_", "-").split("-")[0].casefold() or "en"
