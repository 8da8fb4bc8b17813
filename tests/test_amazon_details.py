"""Keep what Amazon sends, and never guess what an unknown value allows.

Orders come from Amazon's model's own example shapes (built on the simulator's render
with every includedData block), stored by the real importer into a real SQLite file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from amzorders.domain import codes
from amzorders.errors import NotAllowedError
from amzorders.services.importer import ImportResult, ImportSettings, OrderImporter
from amzorders.services.orders import available_actions, get_order_view
from amzorders.simulator import Simulator
from amzorders.store import Store


@pytest.fixture(scope="module")
def template() -> dict:
    sim = Simulator(None, seed=5, orders=40, rate_limits=False)
    for order_id in sim.order_ids():
        order = sim.order(order_id)
        if order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED" and order["fulfillment"]["fulfilledBy"] == "MERCHANT":
            return order
    raise AssertionError("no unshipped MFN order in the sample")


def _order(template: dict, n: int, **changes) -> dict:
    order = copy.deepcopy(template)
    order["orderId"] = f"302-1000000-{n:07d}"
    for path, value in changes.items():
        target = order
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return order


def _store(tmp_path: Path, orders: list[dict]) -> Store:
    store = Store.open(tmp_path / "s.db")
    OrderImporter(store, ImportSettings(account="main")).store_page(orders, ImportResult())
    return store


def test_every_block_the_tool_uses_is_asked_for() -> None:
    for block in ("BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT", "PACKAGES", "TAX"):
        assert block in codes.DEFAULT_INCLUDED_DATA


def test_business_details_are_stored_and_shown(tmp_path: Path, template: dict, cli) -> None:
    item_id = template["orderItems"][0]["orderItemId"]
    template_item = copy.deepcopy(template["orderItems"][0])
    template_item["fulfillment"]["shipping"] = {"shippingConstraints": {"signatureConfirmation": "MANDATORY",
                                                                        "recipientAgeVerification": "MANDATORY"}}
    order = _order(
        template, 1,
        programs=["PRIME", "AMAZON_BUSINESS"],
        buyer__buyerCompanyName="Müller Logistik GmbH",
        buyer__buyerPurchaseOrderNumber="PO-4711",
        tax={"taxRegistrations": [
            {"entityType": "BUYER", "taxRegistrationType": "VAT", "taxRegistrationNumber": "DE123456789",
             "legalName": "Müller Logistik GmbH", "taxRegistrationAttributes": [{"key": "TAX_OFFICE", "value": "Berlin"}]},
            {"entityType": "MARKETPLACE", "taxRegistrationType": "VAT", "taxRegistrationNumber": "LU20260743"},
        ], "taxInvoicing": {"buyerInvoicePreference": "BUSINESS"}},
        associatedOrders=[{"orderId": "302-0000000-0000001", "associationType": "REPLACEMENT_ORIGINAL_ID"}],
        packages=[{"packageReferenceId": "1", "carrier": "DHL", "trackingNumber": "JJD000", "packageStatus": {"status": "IN_TRANSIT", "detailedStatus": "OUT_FOR_DELIVERY"}}],
    )
    order["orderItems"] = [template_item] + order["orderItems"][1:]
    store = _store(tmp_path, [order])
    view = get_order_view(store, order["orderId"])
    d = view.details
    assert d.programs == ("PRIME", "AMAZON_BUSINESS")
    assert [(r.registration_type, r.number) for r in d.buyer_tax_registrations] == [("VAT", "DE123456789")]
    assert [r.number for r in d.marketplace_tax_registrations] == ["LU20260743"]
    assert d.buyer_invoice_preference == "BUSINESS"
    assert [(a.order_id, a.association_type) for a in d.associated_orders] == [("302-0000000-0000001", "REPLACEMENT_ORIGINAL_ID")]
    assert {(c.order_item_id, c.constraint) for c in d.constraints} == {
        (item_id, "signatureConfirmation"), (item_id, "recipientAgeVerification")}
    assert d.ship_by is not None and d.ship_by.latest is not None and d.deliver_by is not None
    assert [(p.status, p.detailed_status) for p in d.packages] == [("IN_TRANSIT", "OUT_FOR_DELIVERY")]
    store.close()

    shown = cli("--db", tmp_path / "s.db", "show", order["orderId"])
    assert shown.exit_code == 0, shown.output
    for text in ("Müller Logistik GmbH", "PO-4711", "VAT DE123456789", "TAX_OFFICE Berlin", "LU20260743",
                 "replacement of 302-0000000-0000001", "signature on delivery", "recipient age verification",
                 "IN_TRANSIT / OUT_FOR_DELIVERY", "Ship-by window", "Deliver-by window", "PRIME"):
        assert text in shown.stdout, text
    data = json.loads(cli("--db", tmp_path / "s.db", "show", order["orderId"], "--json").stdout)
    assert data["details"]["tax_registrations"][0]["number"] == "DE123456789"
    assert data["details"]["programs"] == ["PRIME", "AMAZON_BUSINESS"]
    assert data["details"]["associated_orders"][0]["association_type"] == "REPLACEMENT_ORIGINAL_ID"

    listed = json.loads(cli("--db", tmp_path / "s.db", "list", "--prime", "--business", "--json").stdout)
    assert [row["amazon_order_id"] for row in listed] == [order["orderId"]]
    assert json.loads(cli("--db", tmp_path / "s.db", "list", "--not-prime", "--json").stdout) == []


@pytest.mark.parametrize("program", ["IN_STORE_PICK_UP", "FBM_SHIP_PLUS", "A_PROGRAM_FROM_THE_FUTURE"])
def test_no_ship_is_offered_or_done_for_programs_that_forbid_or_are_unknown(tmp_path: Path, template: dict, cli, program) -> None:
    order = _order(template, 2, programs=[program])
    store = _store(tmp_path, [order])
    view = get_order_view(store, order["orderId"])
    assert view.commerce is not None
    assert not any(a.startswith("amzorders ship") for a in available_actions(view))
    if program not in codes.ORDER_PROGRAMS:
        assert any("unknown program" in w for w in view.import_warnings)
    store.close()
    result = cli("--db", tmp_path / "s.db", "ship", order["orderId"], "--carrier", "UPS", "--tracking", "1Z999AA10123456784")
    assert result.exit_code == 1 and "not shipped from here" in result.stderr


def test_an_unknown_fulfilled_by_is_kept_shown_and_never_taken_for_merchant(tmp_path: Path, template: dict, cli) -> None:
    order = _order(template, 3, fulfillment__fulfilledBy="PARTNER")
    store = _store(tmp_path, [order])
    view = get_order_view(store, order["orderId"])
    assert view.summary.channel == "PARTNER"
    assert view.commerce is None  # not created: nobody knows who ships
    assert any("unknown fulfilledBy 'PARTNER'" in w for w in view.import_warnings)
    assert not any("ship" in a for a in available_actions(view))
    store.close()
    shown = cli("--db", tmp_path / "s.db", "show", order["orderId"])
    assert "unknown: fulfilledBy PARTNER" in shown.stdout and "Import warnings" in shown.stdout


def test_an_unknown_status_is_stored_and_shown_as_itself(tmp_path: Path, template: dict, cli) -> None:
    order = _order(template, 4, fulfillment__fulfillmentStatus="AWAITING_PICKUP")
    store = _store(tmp_path, [order])
    view = get_order_view(store, order["orderId"])
    assert view.summary.amazon_status == "AWAITING_PICKUP"
    assert any("unknown fulfillment status" in w for w in view.import_warnings)
    assert available_actions(view) == []
    store.close()
    listed = cli("--db", tmp_path / "s.db", "list")
    assert "AWAITING_PICKUP" in listed.stdout
