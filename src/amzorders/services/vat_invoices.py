"""EU VAT invoices to Amazon: each invoice and credit memo as an UPLOAD_VAT_INVOICE feed.

Where the seller issues its own invoices ([business] vat_invoice_upload lists the
marketplaces), ``queue`` writes a ``vat_invoice`` outbox row in the transaction that
creates the invoice or credit memo. ``deliver`` renders that document's PDF from the store
(documents are never changed once written, so every attempt uploads the same document)
and submits it: the PDF is the feed document, feedOptions name it (Amazon's "(Option 3)
Manually upload invoices" page):

    metadata:OrderId, metadata:InvoiceNumber, metadata:DocumentType (Invoice / CreditNote),
    metadata:TotalAmount, metadata:TotalVATAmount

Amazon rejects an upload whose totals differ from its own for the order "to two decimal
places", so totals are sent only when the invoice covers the whole order (a partial
invoice would never match) and always for credit notes. The row is then followed like
every feed (services.outbox.follow_feeds) to its processing report; a report saying the
invoice number is already there (an earlier upload whose answer was lost) counts as done.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from amzorders.domain.codes import VAT_INVOICE_MARKETPLACES
from amzorders.domain.models import quantize_money
from amzorders.domain.timefmt import to_iso
from amzorders.errors import AmazonRejectedError, AmazonUnavailableError, AmzOrdersError, AuthError, ConfigError

KIND = "vat_invoice"
FEED_TYPE = "UPLOAD_VAT_INVOICE"
CONTENT_TYPE = "application/pdf"
DOCUMENT_TYPES = {"invoice": "Invoice", "credit-memo": "CreditNote"}
# Processing-report code for "this invoice number is already uploaded for the order".
DUPLICATE_CODES = frozenset({"18032"})


def upload_enabled(business, marketplace_id: str | None) -> bool:
    return bool(business is not None and marketplace_id and marketplace_id in business.vat_invoice_upload
                and marketplace_id in VAT_INVOICE_MARKETPLACES)


def queue(
    store, *, account: str, business, amazon_order_id: str, marketplace_id: str | None, document: str, number: str,
    currency: str, total: Decimal, vat: Decimal, send_totals: bool, now: datetime,
) -> list[int]:
    """The outbox row for one document, when uploads are on for its marketplace (inside
    the caller's transaction). Returns the row ids written (none or one)."""
    if not upload_enabled(business, marketplace_id):
        return []
    from amzorders.services.documents import printed_number

    payload: dict[str, Any] = {
        "marketplace_id": marketplace_id,
        "document": document,
        "document_type": DOCUMENT_TYPES[document],
        "number": printed_number(document, number),
        "currency": currency,
        "total_amount": f"{quantize_money(total, currency):f}" if send_totals else None,
        "total_vat_amount": f"{quantize_money(vat, currency):f}" if send_totals else None,
        "business": business_payload(business),
    }
    row_id = store.add_outbox_row(
        account=account, amazon_order_id=amazon_order_id, kind=KIND,
        idempotency_key=f"vat_invoice:{amazon_order_id}:{document}:{number}", payload=payload, now=now,
    )
    return [row_id]


def business_payload(business) -> dict[str, Any]:
    return {
        "name": business.name, "address": list(business.address), "vat_id": business.vat_id,
        "logo": str(business.logo) if business.logo else None, "fonts": [str(f) for f in business.fonts],
    }


def feed_options(record) -> dict[str, str]:
    payload = record.payload
    options = {
        "metadata:OrderId": record.amazon_order_id,
        "metadata:InvoiceNumber": str(payload["number"]),
        "metadata:DocumentType": str(payload["document_type"]),
    }
    if payload.get("total_amount") is not None:
        options["metadata:TotalAmount"] = str(payload["total_amount"])
    if payload.get("total_vat_amount") is not None:
        options["metadata:TotalVATAmount"] = str(payload["total_vat_amount"])
    return options


def render_document(store, record) -> bytes:
    from amzorders.config import BusinessSettings
    from amzorders.services import documents

    saved = record.payload.get("business") or {}
    business = BusinessSettings(
        name=saved.get("name"), address=tuple(saved.get("address") or ()), vat_id=saved.get("vat_id"),
        logo=Path(saved["logo"]) if saved.get("logo") and Path(saved["logo"]).is_file() else None,
        fonts=tuple(Path(f) for f in saved.get("fonts") or () if Path(f).is_file()),
    )
    found = documents.collect_documents(store, record.payload["document"], [record.amazon_order_id],
                                        number=str(record.payload["number"]))
    return documents.render_pdf(found, business).content


def already_uploaded(error) -> bool:
    return error.message_code in DUPLICATE_CODES


def deliver(store, client, account, now: datetime, row_ids: list[int] | None, report) -> None:
    """Submit each due vat_invoice row as its own feed (one PDF per feed)."""
    from amzorders.services import outbox as box

    wanted = set(row_ids) if row_ids is not None else None
    due = [r for r in store.due_outbox_rows(account.name, now, kinds=(KIND,)) if wanted is None or r.id in wanted]
    for record in due:
        if report.auth_error is not None:
            return
        claim, claimed = store.claim_outbox_rows(account.name, now, now + box.CLAIM_LEASE, row_ids=[record.id], kinds=(KIND,))
        if not claimed:
            continue
        record = claimed[0]
        try:
            try:
                content = render_document(store, record)
            except AmzOrdersError as error:
                why = f"The document could not be rendered for upload: {error.message}"
                if store.finish_outbox_row(record.id, now=now, state="failed", claim=claim, last_error=why):
                    report.failed.append((record.id, why))
                continue
            submitted = client.submit_feed(FEED_TYPE, [str(record.payload["marketplace_id"])], content, CONTENT_TYPE,
                                           feed_options(record))
        except (AuthError, ConfigError) as error:
            box._release_for_person(store, record, claim, now, error, report)
            continue
        except AmazonRejectedError as error:
            report.sent.append(record.id)
            box._fail_rejected(store, record, claim, now, error, report)
            continue
        except AmazonUnavailableError as error:
            # A resend is harmless: Amazon refuses a second upload of the same invoice number.
            report.sent.append(record.id)
            box._back_off(store, record, claim, now, error, report, maybe_sent=bool(getattr(error, "maybe_delivered", True)))
            continue
        except BaseException:
            store.release_outbox_claim(record.id, claim, now, now)
            raise
        report.sent.append(record.id)
        report.feeds.append(submitted.feed_id)
        meta = {"feed": {"feed_id": submitted.feed_id, "feed_document_id": submitted.feed_document_id,
                         "message_id": 1, "feed_type": FEED_TYPE, "submitted_at": to_iso(now)}}
        box._mark_submitted(store, record, claim, now, submitted, meta, report)


def queue_existing(ctx, order_keys: list[str]) -> tuple[list[Any], list[str]]:
    """Queue the upload of every invoice and credit memo of the orders that has none yet
    (documents from before the switch was turned on, or that the import created), then
    push. Returns (ActionResults of the orders with new rows, notes on skipped ones)."""
    from amzorders.errors import NotAllowedError
    from amzorders.services.processing import ActionResult, _load, _push

    results, notes = [], []
    for key in order_keys:
        loaded = _load(ctx, key)
        label = loaded.facts.increment_id or loaded.amazon_order_id
        if not upload_enabled(ctx.business, loaded.facts.marketplace_id):
            raise NotAllowedError(
                f"VAT invoice upload is off for the marketplace of order {label} ({loaded.facts.marketplace_id}); "
                "list it in [business] vat_invoice_upload (Amazon offers uploads in ES, GB, FR, DE, IT, NL, PL, SE)."
            )
        view = ctx.store.order_view(loaded.amazon_order_id)
        if view.commerce is None:
            notes.append(f"{label}: no commerce order, so no invoice to upload")
            continue
        queued = {r.idempotency_key for r in ctx.store.outbox_for_order(loaded.amazon_order_id) if r.kind == KIND}
        result = ActionResult("vat_invoice", label, loaded.amazon_order_id, outbox_kind=KIND)
        now = ctx.now()
        with ctx.store.transaction():
            for document, number, total, vat, full in (
                [("invoice", i.increment_id, i.grand_total, i.tax_amount, i.grand_total == view.commerce.grand_total)
                 for i in view.invoices]
                + [("credit-memo", m.increment_id, m.grand_total, m.tax_refund, True) for m in view.credit_memos]
            ):
                if f"vat_invoice:{loaded.amazon_order_id}:{document}:{number}" in queued:
                    continue
                result.outbox_ids += queue(
                    ctx.store, account=ctx.account.name, business=ctx.business, amazon_order_id=loaded.amazon_order_id,
                    marketplace_id=loaded.facts.marketplace_id, document=document, number=number,
                    currency=view.commerce.currency, total=total, vat=vat, send_totals=full, now=now,
                )
        if result.outbox_ids:
            result.summary = f"{len(result.outbox_ids)} document(s) of order {label} queued for upload to Amazon."
            results.append(result)
        else:
            notes.append(f"{label}: every invoice and credit memo is already uploaded or queued")
    _push(ctx, results)
    return results, notes
