"""Printed documents: invoices, credit memos and packing slips as one PDF for many orders.

``collect_documents`` turns stored orders into plain ``PrintedDocument`` data (no PDF
library); ``render_pdf`` lays them out with fpdf2, imported only here, so no other
command pays for it at start-up.

Why fpdf2: pure Python (wheels everywhere, nothing to compile), small, embeds and subsets
TrueType fonts through fontTools, has font fallback for scripts one font lacks, tables,
and images; reportlab would do too, but is larger, and its Unicode font handling asks more
of the caller for the same result.

Fonts: DejaVu Sans (shipped in amzorders/fonts, Bitstream Vera licence) covers Latin,
Greek, Cyrillic, Hebrew, Arabic letters and more; it has no CJK. ``[business] fonts``
adds fonts (e.g. a Noto Sans CJK .ttf) used as fallbacks. A character no font can show is
printed as '?' and reported (``PrintResult.warnings``) naming the script, never dropped
silently. Text is not shaped (no HarfBuzz): right-to-left scripts print letter by letter.

Amounts are Decimals, printed in the order's currency with its own decimals (JPY none).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from amzorders.domain.doctext import marketplace_language, texts_for
from amzorders.domain.models import currency_digits, quantize_money
from amzorders.errors import NotAllowedError, UsageError
from amzorders.services.orders import find_amazon_order_id

DOCUMENT_TYPES = ("invoice", "credit-memo", "packing-slip")
FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
REGULAR_FONT = FONT_DIR / "DejaVuSans.ttf"
BOLD_FONT = FONT_DIR / "DejaVuSans-Bold.ttf"


@dataclass
class DocumentLine:
    sku: str
    name: str
    qty: int
    unit_price: Decimal | None = None  # None on a packing slip
    row_total: Decimal | None = None


@dataclass
class PrintedDocument:
    doc_type: str  # invoice / credit-memo / packing-slip
    number: str | None  # the invoice / credit memo / shipment number
    order_number: str
    amazon_order_id: str
    marketplace_id: str | None
    language: str
    currency: str
    order_date: datetime
    document_date: datetime
    ship_to: list[str]
    buyer_tax_id: str | None
    po_number: str | None
    lines: list[DocumentLine]
    totals: list[tuple[str, Decimal]] = field(default_factory=list)  # (text key, amount)
    notes: list[str] = field(default_factory=list)


@dataclass
class PrintResult:
    path: Path | None
    content: bytes
    documents: int
    pages: int
    orders: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def collect_documents(store, doc_type: str, order_keys: list[str], number: str | None = None) -> list[PrintedDocument]:
    """The documents of ``doc_type`` of each order, in the order given; ``number`` picks one."""
    if doc_type not in DOCUMENT_TYPES:
        raise UsageError(f"Unknown document {doc_type!r}; print one of {', '.join(DOCUMENT_TYPES)}.")
    if not order_keys:
        raise UsageError("Give at least one order number to print.")
    documents: list[PrintedDocument] = []
    for key in order_keys:
        amazon_order_id = find_amazon_order_id(store, key)
        view = store.order_view(amazon_order_id)
        raw = store.amazon_order_document(amazon_order_id) or {}
        documents.extend(_documents_of(view, raw, doc_type, number))
    return documents


def _documents_of(view, raw: dict, doc_type: str, number: str | None) -> list[PrintedDocument]:
    summary = view.summary
    order = view.commerce
    label = order.increment_id if order else summary.amazon_order_id
    if order is None:
        raise NotAllowedError(
            f"Amazon order {summary.amazon_order_id} ({summary.amazon_status}) has no commerce order, so it has "
            "no invoice, credit memo or packing slip to print yet."
        )
    currency = order.currency
    items = {item.order_item_id: item for item in order.items}
    gift = {i.order_item_id: i.gift_message for i in view.amazon_items if i.gift_message}
    base = dict(
        order_number=order.increment_id, amazon_order_id=summary.amazon_order_id,
        marketplace_id=summary.marketplace_id, language=marketplace_language(summary.marketplace_id),
        currency=currency, order_date=summary.purchase_date,
        ship_to=_address_lines(view), buyer_tax_id=buyer_tax_id(raw), po_number=view.buyer_po_number,
    )

    def name(order_item_id: str, sku: str) -> str:
        item = items.get(order_item_id)
        return item.name if item else sku

    def unit(order_item_id: str) -> Decimal | None:
        item = items.get(order_item_id)
        return item.price if item else None

    out: list[PrintedDocument] = []
    if doc_type == "invoice":
        invoices = [i for i in view.invoices if number is None or i.increment_id == number]
        if not invoices:
            raise NotAllowedError(f"Order {label} has no invoice{' ' + number if number else ''} to print; "
                                  f"create it with 'amzorders invoice {label}'.")
        for invoice in invoices:
            out.append(PrintedDocument(
                doc_type="invoice", number=invoice.increment_id, document_date=invoice.created_at,
                lines=[DocumentLine(i.sku, name(i.order_item_id, i.sku), i.qty, unit(i.order_item_id), i.row_total)
                       for i in invoice.items],
                totals=[("subtotal", invoice.subtotal), ("discount", -abs(invoice.discount_amount)),
                        ("shipping", invoice.shipping_amount), ("tax", invoice.tax_amount),
                        ("grand_total", invoice.grand_total)],
                notes=["paid_by_amazon"], **base))
    elif doc_type == "credit-memo":
        memos = [m for m in view.credit_memos
                 if number is None or number in (m.increment_id, printed_number("credit-memo", m.increment_id))]
        if not memos:
            raise NotAllowedError(f"Order {label} has no credit memo{' ' + number if number else ''} to print; "
                                  f"refunds create them ('amzorders refund {label} ...').")
        for memo in memos:
            totals = [("subtotal", memo.subtotal), ("shipping", memo.shipping_refund), ("tax", memo.tax_refund)]
            if memo.adjustment_refund:
                totals.append(("adjustment_refund", memo.adjustment_refund))
            if memo.adjustment_fee:
                totals.append(("adjustment_fee", -abs(memo.adjustment_fee)))
            totals.append(("grand_total", memo.grand_total))
            out.append(PrintedDocument(
                doc_type="credit-memo", number=printed_number("credit-memo", memo.increment_id),
                document_date=memo.created_at,
                lines=[DocumentLine(i.sku, name(i.order_item_id, i.sku), i.qty, unit(i.order_item_id), i.row_total)
                       for i in memo.items if i.qty],
                totals=totals, notes=[f"refund_reason:{memo.reason}"], **base))
    else:
        shipments = [s for s in view.shipments if number is None or s.increment_id == number]
        if number is not None and not shipments:
            raise NotAllowedError(f"Order {label} has no shipment {number}.")
        for shipment in shipments:
            notes = [f"carrier:{shipment.carrier_name or shipment.carrier_code or ''}",
                     f"tracking:{shipment.tracking_number or ''}"]
            notes += [f"gift_message:{gift[i.order_item_id]}" for i in shipment.items if i.order_item_id in gift]
            out.append(PrintedDocument(
                doc_type="packing-slip", number=shipment.increment_id, document_date=shipment.created_at,
                lines=[DocumentLine(i.sku, name(i.order_item_id, i.sku), i.qty) for i in shipment.items],
                notes=notes, **base))
        if not shipments:
            # Nothing shipped yet: the slip lists what is still to pack.
            lines = [DocumentLine(i.sku, i.name, i.qty_ordered - i.qty_shipped - i.qty_canceled)
                     for i in order.items if i.qty_ordered - i.qty_shipped - i.qty_canceled > 0]
            if not lines:
                raise NotAllowedError(f"Order {label} has nothing to pack and no shipment to print a packing slip for.")
            out.append(PrintedDocument(
                doc_type="packing-slip", number=None, document_date=order.updated_at, lines=lines,
                notes=[f"gift_message:{gift[i]}" for i in gift], **base))
    return out


CREDIT_MEMO_PREFIX = "CM-"


def printed_number(doc_type: str, number: str) -> str:
    """The number a document carries on paper (and in a VAT upload). Credit memos are
    numbered apart from invoices, so the same digits can be both: printed credit memo
    numbers carry "CM-", so that Amazon and the buyer can never take one for the other."""
    return f"{CREDIT_MEMO_PREFIX}{number}" if doc_type == "credit-memo" else number


def buyer_tax_id(raw: dict) -> str | None:
    """The buyer's tax registration (Orders API v2026 ``tax.taxRegistrations``, entityType BUYER)."""
    for registration in ((raw.get("tax") or {}).get("taxRegistrations") or []):
        if isinstance(registration, dict) and registration.get("entityType") == "BUYER":
            number = registration.get("taxRegistrationNumber")
            if number:
                return str(number)
    return None


def _address_lines(view) -> list[str]:
    lines: list[str] = []
    if view.summary.buyer_name:
        lines.append(view.summary.buyer_name)
    if view.buyer_company:
        lines.append(view.buyer_company)
    if view.shipping_address is not None:
        for line in view.shipping_address.lines():
            if line not in lines:
                lines.append(line)
    return lines


def money_text(amount: Decimal, currency: str) -> str:
    digits = currency_digits(currency)
    value = quantize_money(amount, currency)
    return f"{value:,.{digits}f} {currency}"


# --- PDF --------------------------------------------------------------------------------


def render_pdf(documents: list[PrintedDocument], business, output: Path | None = None) -> PrintResult:
    """One PDF with every document (one or more pages each)."""
    from fpdf import FPDF

    started = time.perf_counter()
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_auto_page_break(True, margin=18)
    pdf.set_creator("amzorders")
    pdf.add_font("DejaVu", "", str(REGULAR_FONT))
    pdf.add_font("DejaVu", "B", str(BOLD_FONT))
    fallbacks = []
    for position, font in enumerate(business.fonts):
        family = f"Extra{position}"
        pdf.add_font(family, "", str(font))
        pdf.add_font(family, "B", str(font))
        fallbacks.append(family)
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks)
    coverage = _Coverage(pdf)
    warnings: list[str] = []
    for document in documents:
        _render_document(pdf, document, business, coverage, warnings)
    content = bytes(pdf.output())
    if output is not None:
        _write_file(output, content)
    orders = len({d.amazon_order_id for d in documents})
    return PrintResult(output, content, len(documents), pdf.page_no(), orders, time.perf_counter() - started, warnings)


class _Coverage:
    """Which characters the loaded fonts can show; replaces the others and remembers them."""

    def __init__(self, pdf) -> None:
        self.cmaps = [set(font.cmap) for font in pdf.fonts.values() if hasattr(font, "cmap")]
        self.missing: dict[str, set[str]] = {}

    def covered(self, char: str) -> bool:
        code = ord(char)
        return char in "\n\t " or any(code in cmap for cmap in self.cmaps)

    def text(self, value: str, where: str) -> str:
        out = []
        for char in unicodedata.normalize("NFC", value):
            if unicodedata.category(char) in ("Cc", "Cf") and char not in "\n":
                continue  # control characters from Amazon's data are never printed
            if self.covered(char):
                out.append(char)
            else:
                self.missing.setdefault(where, set()).add(char)
                out.append("?")
        return "".join(out)


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    for script in ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "DEVANAGARI", "THAI", "BENGALI", "TAMIL", "EMOJI"):
        if name.startswith(script) or script in name.split():
            return script.capitalize() if script != "CJK" else "CJK (Chinese/Japanese kanji)"
    return name.split(" ")[0].capitalize() if name else f"U+{ord(char):04X}"


def _render_document(pdf, document: PrintedDocument, business, coverage: _Coverage, warnings: list[str]) -> None:
    where = f"{document.doc_type} of order {document.order_number}"
    words = texts_for(document.language)
    # Labels in the marketplace's language only where the fonts can show them all.
    if not all(coverage.covered(c) for text in words.values() for c in text):
        words = texts_for("en")
        warnings.append(
            f"{where}: the labels are printed in English, because the fonts lack the script of the "
            f"{document.language} labels; add a font covering it with [business] fonts = [\"...ttf\"]."
        )

    def t(value: str) -> str:
        return coverage.text(value, where)

    missing_before = len(coverage.missing.get(where, ()))
    pdf.add_page()
    top = pdf.get_y()
    if business.logo is not None:
        try:
            pdf.image(str(business.logo), x=pdf.w - pdf.r_margin - 40, y=top, w=40)
        except Exception as exc:  # a logo that is no image: say so once, print the rest
            message = f"the logo {business.logo} could not be placed ({type(exc).__name__}: {exc})"
            if message not in warnings:
                warnings.append(message)
    pdf.set_font("DejaVu", "B", 13)
    pdf.cell(0, 7, t(business.name or "(set [business] name in the config)"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    for line in business.address:
        pdf.cell(0, 4.5, t(line), new_x="LMARGIN", new_y="NEXT")
    if business.vat_id:
        pdf.cell(0, 4.5, t(f"{words['vat_id']}: {business.vat_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    title_key = {"invoice": "invoice", "credit-memo": "credit_memo", "packing-slip": "packing_slip"}[document.doc_type]
    pdf.set_font("DejaVu", "B", 16)
    title = words[title_key] + (f" {document.number}" if document.number else "")
    pdf.cell(0, 9, t(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    facts = [
        (words["order"], document.order_number),
        (words["amazon_order"], document.amazon_order_id),
        (words["order_date"], document.order_date.date().isoformat()),
        (words["date"], document.document_date.date().isoformat()),
    ]
    if document.po_number:
        facts.append((words["po_number"], document.po_number))
    for label, value in facts:
        pdf.cell(40, 4.8, t(label + ":"))
        pdf.cell(0, 4.8, t(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("DejaVu", "B", 9)
    pdf.cell(0, 5, t(words["ship_to"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    for line in document.ship_to:
        pdf.cell(0, 4.5, t(line), new_x="LMARGIN", new_y="NEXT")
    if document.buyer_tax_id and document.doc_type != "packing-slip":
        pdf.cell(0, 4.5, t(f"{words['buyer_tax_id']}: {document.buyer_tax_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    priced = document.doc_type != "packing-slip"
    currency = document.currency
    if priced:
        widths, headings = (40, 70, 14, 33, 33), ("sku", "product", "qty", "unit_price", "total")
        aligns = ("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT")
    else:
        widths, headings, aligns = (35, 135, 20), ("sku", "product", "qty"), ("LEFT", "LEFT", "RIGHT")
    with pdf.table(col_widths=widths, text_align=aligns, line_height=5, first_row_as_headings=True,
                   headings_style=_headings_style()) as table:
        row = table.row()
        for key in headings:
            row.cell(t(words[key]))
        for line in document.lines:
            row = table.row()
            row.cell(t(line.sku))
            row.cell(t(line.name))
            row.cell(str(line.qty))
            if priced:
                row.cell(money_text(line.unit_price, currency) if line.unit_price is not None else "")
                row.cell(money_text(line.row_total, currency) if line.row_total is not None else "")
    pdf.ln(3)
    for key, amount in document.totals:
        if not amount and key in ("discount", "shipping", "adjustment_refund", "adjustment_fee"):
            continue  # a zero line says nothing
        bold = key == "grand_total"
        pdf.set_font("DejaVu", "B" if bold else "", 10 if bold else 9)
        pdf.cell(pdf.epw - 45, 5.5, t(words[key]), align="R")
        pdf.cell(45, 5.5, money_text(amount, currency), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.ln(4)
    for note in document.notes:
        key, _, value = note.partition(":")
        text = words.get(key, key) + (f": {value}" if value else "")
        pdf.multi_cell(0, 4.5, t(text), new_x="LMARGIN", new_y="NEXT")
    if len(coverage.missing.get(where, ())) > missing_before:
        chars = sorted(coverage.missing[where])
        scripts = sorted({_script(c) for c in chars})
        warnings.append(
            f"{where}: {len(chars)} character(s) of {', '.join(scripts)} cannot be shown with the fonts "
            f"(DejaVu Sans{''.join(', ' + f.name for f in business.fonts)}) and are printed as '?'; "
            "add a font that covers them with [business] fonts = [\"/path/to/font.ttf\"]."
        )


def _headings_style():
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", fill_color=(230, 230, 230))


def _write_file(path: Path, content: bytes) -> None:
    """Write atomically: a half-written PDF never replaces a good one."""
    import os
    import tempfile

    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"The folder {directory} does not exist; create it or choose another -o path.")
    try:
        fd, temporary = tempfile.mkstemp(prefix=".amzorders-", suffix=".pdf", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(temporary, path)
    except PermissionError:
        raise UsageError(f"{path} cannot be written (permission denied); choose another -o path.") from None
