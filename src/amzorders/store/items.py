"""A commerce item's product fields (sku, name, asin) as stored since migration 11.

A commerce item is made from its Amazon item (domain/commerce.py commerce_item_from_amazon:
sku, name from the title, asin), so these columns were nearly always a second copy of the
Amazon item's sku, title and asin (~115 B per order). A column is NULL where its value is the
Amazon item's (same amazon_order_id through commerce_orders, same order_item_id), and every
read fills it back from there: ``SKU`` / ``NAME`` / ``ASIN`` over ``ITEMS_FROM`` are that
read, the one place it is written in SQL; ``stored`` / ``filled`` are the same rule in
Python (the importer's writes; a re-import that changes Amazon's item, store/orders.py).

ASIN is nullable on both sides, so NULL cannot also mean "none": an item without an ASIN
whose Amazon item has one stores ''. '' is never an ASIN of its own (jsonread.as_text reads
Amazon's '' as None, so the importer never writes one).
"""

from __future__ import annotations

# Each product field of ITEMS_FROM's commerce item ``i``, filled back from its Amazon item ``ai``.
SKU = "COALESCE(i.sku, ai.sku)"
NAME = "COALESCE(i.name, ai.title)"
ASIN = "CASE WHEN i.asin IS NULL THEN ai.asin WHEN i.asin = '' THEN NULL ELSE i.asin END"

# Every commerce item column, the product fields filled back, from ITEMS_FROM.
ITEM_COLUMNS = f"""i.id, i.order_id, i.order_item_id, {SKU} AS sku, {NAME} AS name, {ASIN} AS asin,
       i.price, i.row_total, i.tax_amount, i.discount_amount, i.shipping_amount, i.qty_ordered,
       i.qty_invoiced, i.qty_shipped, i.qty_refunded, i.qty_canceled, i.money_json"""

ITEMS_FROM = """commerce_order_items i
       JOIN commerce_orders ic ON ic.id = i.order_id
       LEFT JOIN amazon_order_items ai ON ai.amazon_order_id = ic.amazon_order_id AND ai.order_item_id = i.order_item_id"""


def stored(values: tuple, amazon: tuple | None) -> tuple:
    """(sku, name, asin) as stored for a commerce item with these values, given its Amazon
    item's (sku, title, asin), or None when there is no Amazon item."""
    amazon = amazon or (None, None, None)
    sku = None if values[0] == amazon[0] else values[0]  # never None itself (NOT NULL until schema 11)
    name = None if values[1] == amazon[1] else values[1]
    asin = None if values[2] == amazon[2] else ("" if values[2] is None else values[2])
    return sku, name, asin


def filled(values: tuple, amazon: tuple | None) -> tuple:
    """The commerce item's (sku, name, asin) from the stored ones, as ``SKU``/``NAME``/``ASIN`` read them."""
    amazon = amazon or (None, None, None)
    sku = values[0] if values[0] is not None else amazon[0]
    name = values[1] if values[1] is not None else amazon[1]
    asin = amazon[2] if values[2] is None else (None if values[2] == "" else values[2])
    return sku, name, asin
