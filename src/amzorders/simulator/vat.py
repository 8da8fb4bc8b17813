"""The simulator's UPLOAD_VAT_INVOICE feed (EU VAT invoices uploaded by the seller).

Rules, from Amazon's "(Option 3) Manually upload invoices" page and the invoicing feed
type values:
- only in Spain, UK, France, Germany, Italy, Netherlands, Poland, Sweden;
- the feed document is the PDF itself;
- feedOptions: metadata:OrderId (or metadata:ShippingId), metadata:InvoiceNumber and
  metadata:DocumentType (Invoice / CreditNote) are required; metadata:TotalAmount and
  metadata:TotalVATAmount are optional, and when given must match Amazon's amounts for
  the order to two decimal places, or the upload is rejected; values may hold only
  letters, digits, spaces and , / \\ - _ ; : # (and the decimal point of amounts);
- one invoice number per document: a number already accepted for the order is refused.

What was received is kept in the state's ``vat_invoices`` list.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from amzorders.domain.codes import VAT_INVOICE_MARKETPLACES

from .feeds import CODE_BAD_MESSAGE, CODE_ORDER, MessageResult, processing_report
from .market import iso

if TYPE_CHECKING:
    from .core import Simulator

VAT_INVOICE_FEED = "UPLOAD_VAT_INVOICE"
CODE_DUPLICATE_INVOICE = "18032"  # the invoice number was already accepted for this order
CODE_TOTALS = "18033"  # TotalAmount / TotalVATAmount differ from Amazon's
_ALLOWED_VALUE = re.compile(r"[A-Za-z0-9 ,/\\\-_;:#.]*")
REQUIRED = ("metadata:InvoiceNumber", "metadata:DocumentType")


def process(sim: Simulator, data: dict[str, Any], feed: dict[str, Any], content: bytes, end: float) -> tuple[str, bytes]:
    """Apply one UPLOAD_VAT_INVOICE feed; returns (processing status, report)."""
    options = feed.get("feedOptions") or {}
    order_id = str(options.get("metadata:OrderId") or "")
    record = {
        "order_id": order_id, "feed_id": feed["feedId"], "received_at": iso(feed["createdTime"]),
        "processed_at": iso(end), "document_type": options.get("metadata:DocumentType"),
        "invoice_number": options.get("metadata:InvoiceNumber"),
        "total_amount": options.get("metadata:TotalAmount"), "total_vat_amount": options.get("metadata:TotalVATAmount"),
        "marketplace_ids": feed["marketplaceIds"], "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(), "accepted": False, "error": None,
    }
    problem = _problem(sim, data, feed, options, order_id, content, end)
    if problem is None:
        record["accepted"] = True
    else:
        record["error"] = problem[1]
    data.setdefault("vat_invoices", []).append(record)
    errors = [] if problem is None else [MessageResult("1", order_id, problem[0], problem[1])]
    return "DONE", processing_report(feed["feedId"], 1, errors)


def _problem(sim: Simulator, data: dict[str, Any], feed: dict[str, Any], options: dict[str, Any], order_id: str,
             content: bytes, end: float) -> tuple[str, str] | None:
    if not content.startswith(b"%PDF-"):
        return CODE_BAD_MESSAGE, "The feed document is not a PDF invoice."
    if not set(feed["marketplaceIds"]) <= set(VAT_INVOICE_MARKETPLACES):
        return CODE_BAD_MESSAGE, "UPLOAD_VAT_INVOICE is only available in the EU VAT marketplaces."
    for key in REQUIRED:
        if not options.get(key):
            return CODE_BAD_MESSAGE, f"feedOptions {key} is required."
    if not order_id and not options.get("metadata:ShippingId"):
        return CODE_BAD_MESSAGE, "feedOptions metadata:OrderId or metadata:ShippingId is required."
    for key, value in options.items():
        if not _ALLOWED_VALUE.fullmatch(str(value)):
            return CODE_BAD_MESSAGE, f"feedOptions {key} holds characters Amazon does not accept."
    document_type = options["metadata:DocumentType"]
    if document_type not in ("Invoice", "CreditNote"):
        return CODE_BAD_MESSAGE, f"metadata:DocumentType must be Invoice or CreditNote, not {document_type!r}."
    index = sim.market.index_of(order_id, end)
    if index is None:
        return CODE_ORDER, f"Order {order_id} was not found."
    skel = sim.market.skeleton(index)
    if skel.marketplace_id not in feed["marketplaceIds"]:
        return CODE_ORDER, f"Order {order_id} does not belong to marketplace {', '.join(feed['marketplaceIds'])}."
    number = options["metadata:InvoiceNumber"]
    if any(r["order_id"] == order_id and r["invoice_number"] == number and r["accepted"]
           for r in data.get("vat_invoices", [])):
        return CODE_DUPLICATE_INVOICE, f"Invoice number {number} was already uploaded for order {order_id}."
    if document_type == "Invoice":
        details = sim.market.details(index)
        for key, expected in (("metadata:TotalAmount", details.totals_text.get("GRAND")),
                              ("metadata:TotalVATAmount", details.totals_text.get("TAX"))):
            if key not in options or expected is None:
                continue
            try:
                given = Decimal(str(options[key]))
            except InvalidOperation:
                return CODE_TOTALS, f"feedOptions {key} {options[key]!r} is not an amount."
            if given.quantize(Decimal("0.01")) != Decimal(expected).quantize(Decimal("0.01")):
                return CODE_TOTALS, f"{key} {options[key]} does not match Amazon's amount {expected} for order {order_id}."
    return None


def received(sim: Simulator, order_id: str | None = None) -> list[dict[str, Any]]:
    with sim._lock:
        sim._sync()
        return [dict(r) for r in sim._store.data.get("vat_invoices", []) if order_id is None or r["order_id"] == order_id]
