"""``print``: invoices, credit memos and packing slips of one or many orders, as one PDF.

fpdf2 is imported only by this command (start-up speed of every other command).
Exit codes: 0 written; 1 unknown order or nothing of that kind to print; 2 bad input
(unknown document type, unwritable -o path).
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from amzorders.cli.common import get_app, notice, warn

PANEL = "Buyer contact"


def register(app: typer.Typer) -> None:
    app.command("print", rich_help_panel=PANEL)(print_command)
    app.command("vat-upload", rich_help_panel=PANEL)(vat_upload_command)


def print_command(
    ctx: typer.Context,
    document: Annotated[str, typer.Argument(help="invoice, credit-memo or packing-slip.", metavar="DOCUMENT")],
    orders: Annotated[list[str], typer.Argument(help="Commerce or Amazon order numbers (one or many).", metavar="ORDER...")],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", metavar="FILE.pdf", help="Where to write the PDF. Default: DOCUMENT-ORDER.pdf (or DOCUMENT-N-orders.pdf) in the current folder.")] = None,
    number: Annotated[Optional[str], typer.Option("--number", metavar="NUMBER", help="Only the document with this number (one order).")] = None,
) -> None:
    """Print invoices, credit memos or packing slips (no prices) of orders into one PDF.

    The seller's details come from the config's [business] table (name, address, vat_id, logo).

    Example: amzorders print invoice 000000012 000000013 -o invoices.pdf
    """
    from amzorders.services import documents

    app = get_app(ctx)
    kind = document.strip().lower()
    found = documents.collect_documents(app.store(), kind, list(orders), number=number)
    if output is None:
        output = Path(f"{kind}-{orders[0]}.pdf" if len(orders) == 1 else f"{kind}-{len(orders)}-orders.pdf")
    if output.suffix.lower() != ".pdf":
        from amzorders.errors import UsageError

        raise UsageError(f"-o {output}: the file name must end in .pdf.")
    result = documents.render_pdf(found, app.settings.business, output)
    for message in result.warnings:
        warn(message)
    if not app.settings.business.name:
        warn("No [business] name is configured: the documents lack the seller's name and address. Add a [business] table to the config.")
    notice(f"{result.documents} {kind.replace('-', ' ')}(s) of {result.orders} order(s), {result.pages} page(s) written to {output}.")


def vat_upload_command(
    ctx: typer.Context,
    orders: Annotated[list[str], typer.Argument(help="Commerce or Amazon order numbers.", metavar="ORDER...")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Upload the invoices and credit memos of orders to Amazon (EU VAT, UPLOAD_VAT_INVOICE feed).

    New invoices and credit memos go up by themselves where [business] vat_invoice_upload
    lists the marketplace; this sends the ones made before (or by the import). Each
    document goes up once; 'amzorders sync' follows the feeds to Amazon's report.

    Example: amzorders vat-upload 000000012 000000013
    """
    from amzorders.cli.processing_cmd import _context, _report
    from amzorders.services import vat_invoices

    results, notes = vat_invoices.queue_existing(_context(ctx), list(orders))
    for note in notes:
        notice(note)
    failed = 0
    for result in results:
        try:
            _report(result, json_output)
        except typer.Exit:
            failed += 1
    if failed:
        raise typer.Exit(4)
