"""Render time of printed documents: invoices and packing slips for 1 / 10 / 100 orders.

Builds the documents from a real store (orders imported from an in-process simulator and
invoiced through the services), then times ``render_pdf`` alone (layout + font subsetting
+ PDF output) and the whole ``collect_documents`` + ``render_pdf``, per order. The first
render of a process also loads the fonts and imports fpdf2: reported apart ("cold").

    .venv/bin/python benchmarks/print_documents.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 and 10 orders only")
    args = parser.parse_args()
    sizes = (1, 10) if args.quick else (1, 10, 100)
    work = Path(tempfile.mkdtemp(prefix="amzorders-bench-print-"))
    try:
        run(work, sizes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, sizes: tuple[int, ...]) -> None:
    from amzorders.amazon.auth import LwaCredentials
    from amzorders.amazon.client import SpApiClient
    from amzorders.config import BusinessSettings, simulator_account
    from amzorders.services.importer import ImportSettings, import_orders
    from amzorders.services.processing import ProcessingContext, invoice
    from amzorders.simulator import SIMULATOR_CREDENTIALS, Simulator
    from amzorders.store import Store

    business = BusinessSettings(name="Nordlicht Handel GmbH", address=("Hafenstraße 12", "20457 Hamburg"),
                                vat_id="DE811234567")
    with Simulator(work / "sim.json", seed=3, orders=10, rate_limits=False) as sim:
        ids = sim.add_orders(max(sizes), status="UNSHIPPED", fulfilled_by="MERCHANT", marketplace_id="A1PA6795UKMFR9",
                             items=[2, 1, 1])
        client = SpApiClient(sim.base_url, LwaCredentials(**SIMULATOR_CREDENTIALS), sim.token_url)
        store = Store.open(work / "orders.db")
        account = simulator_account()
        import_orders(store, client, ImportSettings(account=account.name), order_ids=ids)
        ctx = ProcessingContext(store=store, account=account, push=False)
        for order_id in ids:
            invoice(ctx, order_id)
        client.close()

    from amzorders.services import documents

    started = time.perf_counter()
    cold = documents.render_pdf(documents.collect_documents(store, "invoice", ids[:1]), business)
    cold_seconds = time.perf_counter() - started
    print("| document | orders | pages | render only, ms/order | collect + render, ms/order | PDF KiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for doc_type in ("invoice", "packing-slip"):
        for size in sizes:
            began = time.perf_counter()
            found = documents.collect_documents(store, doc_type, ids[:size])
            result = documents.render_pdf(found, business)
            total = time.perf_counter() - began
            print(f"| {doc_type} | {size} | {result.pages} | {result.seconds * 1000 / size:.1f} | "
                  f"{total * 1000 / size:.1f} | {len(result.content) / 1024:.0f} |")
    print()
    print(f"Cold first render (imports fpdf2, loads DejaVu Sans regular + bold): {cold_seconds * 1000:.0f} ms "
          f"for {cold.pages} page(s).")
    store.close()


if __name__ == "__main__":
    main()
