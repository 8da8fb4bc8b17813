"""Amazon's order JSON as the store keeps it: compact UTF-8 JSON, zlib-compressed with a
preset dictionary.

An order is ~2-3 KB of JSON, most of it the same keys and enum values in every order
(Orders API v2026-01-01 ``Order`` schema). zlib alone gets it to ~45 %; a preset
dictionary holding that common text lets even the first occurrence of each key be a back
reference (~25 %). The dictionary is identified by zlib itself: a stream made with one
carries the dictionary's Adler-32 in its header (RFC 1950, FDICT), so ``unpack`` picks the
right one and a future dictionary can be added to ``_DICTIONARIES`` without rewriting old
rows. Never change a dictionary once released; add a new one and make it ``_CURRENT``.

Migration 11: each item's ``product.sellerSku``, ``asin`` and ``title`` is a copy of the
Amazon item row written with the order (amazon_order_items: sku, title, asin), ~100 B per
order compressed. ``pack(raw, items)`` leaves out each that is a string equal to its row's
(the row found by the item's orderItemId, read as the importer reads it): the key stays in
its place with the value "" (so key order round-trips) and a mask says which were left
out, so that a genuine "", null, number or absent key from Amazon comes back as itself.
Such a blob is: the format byte 0x01 (never the first byte of a zlib stream: CM would be
1), one mask byte per item in orderItems order (bit 0 sellerSku, 1 asin, 2 title; trailing
zero masks omitted), 0xFF, then the order's zlib stream as above. ``unpack(packed, items)``
puts the values back from the rows; a reader of other parts (programs, the delivery
address) may pass no items and gets "" there. A blob with nothing left out is written in
the plain form, and the plain forms (dictionaries 1 and 2) read as before.

History entries (status_history.more_zlib, migration 10) use the same idea with a
dictionary of the importer's own wording; being short (~350 B of JSON), they are stored as
a format byte and a raw deflate stream (no zlib header and checksum: 10 B of ~60).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping

from amzorders.domain.jsonread import as_text

# Orders API v2026-01-01 field names and enum values (from Amazon's order model), laid
# out like an order, rarer parts first: zlib favours matches near the end of the window.
_DICTIONARY_1 = (
    '"cancellation":{"cancellationRequest":{"requester":"BUYER","cancelReason":"'
    '"cancellationExecution":{"cancelledBy":"SELLER","cancelReason":"'
    '"giftOption":{"giftMessage":"","giftWrapLevel":"'
    '"promotion":{"promotionId":"'
    '"priceDesignation":"BUSINESS_PRICE"'
    '"addressType":"COMMERCIAL","addressType":"RESIDENTIAL"'
    '"programs":["PRIME","AMAZON_BUSINESS","PREMIUM"]'
    '"fulfilledBy":"AMAZON","fulfillmentStatus":"CANCELLED","fulfillmentStatus":"PENDING",'
    '"fulfillmentStatus":"PARTIALLY_SHIPPED","fulfillmentServiceLevel":"EXPEDITED","fulfillmentServiceLevel":"SECOND_DAY",'
    '"fulfillmentServiceLevel":"NEXT_DAY","fulfillmentServiceLevel":"STANDARD",'
    '"currencyCode":"GBP"},"currencyCode":"CAD"},"currencyCode":"MXN"},"currencyCode":"EUR"},'
    '"marketplaceName":"Amazon.co.uk"},"marketplaceName":"Amazon.de"},"marketplaceName":"Amazon.fr"},'
    '"marketplaceName":"Amazon.ca"},"marketplaceName":"Amazon.com"},'
    '{"orderId":"","createdTime":"2026-","lastUpdatedTime":"2026-",'
    '"salesChannel":{"channelName":"AMAZON","marketplaceId":"ATVPDKIKX0DER","marketplaceName":"Amazon.com"},'
    '"buyer":{"buyerName":"","buyerEmail":"@marketplace.amazon.com","buyerCompanyName":"","buyerPurchaseOrderNumber":"PO-"},'
    '"recipient":{"deliveryAddress":{"name":"","companyName":"","addressLine1":"","addressLine2":"","city":"",'
    '"stateOrRegion":"","postalCode":"","countryCode":"US","phone":"+1 ","addressType":"RESIDENTIAL"}},'
    '"proceeds":{"grandTotal":{"amount":"","currencyCode":"USD"},"breakdowns":[{"type":"ITEM","subtotal":{"amount":"",'
    '"currencyCode":"USD"}},{"type":"SHIPPING","subtotal":{"amount":"0.00","currencyCode":"USD"}},{"type":"TAX",'
    '"subtotal":{"amount":"","currencyCode":"USD"}},{"type":"DISCOUNT","subtotal":{"amount":"-","currencyCode":"USD"}}]},'
    '"fulfillment":{"fulfillmentStatus":"SHIPPED","fulfilledBy":"MERCHANT","fulfillmentServiceLevel":"STANDARD",'
    '"shipByWindow":{"earliestDateTime":"2026-","latestDateTime":"2026-T23:59:59Z"},'
    '"deliverByWindow":{"earliestDateTime":"2026-T00:00:00Z","latestDateTime":"2026-T23:59:59Z"}},'
    '"orderItems":[{"orderItemId":"","quantityOrdered":1,"measurement":{"unit":"COUNT","value":1},'
    '"product":{"asin":"B0","title":"","sellerSku":"","condition":{"conditionType":"NEW","conditionSubtype":"NEW"},'
    '"price":{"unitPrice":{"amount":"","currencyCode":"USD"}}},"proceeds":{"proceedsTotal":{"amount":"",'
    '"currencyCode":"USD"},"breakdowns":[{"type":"ITEM","subtotal":{"amount":"","currencyCode":"USD"}},'
    '{"type":"SHIPPING","subtotal":{"amount":"0.00","currencyCode":"USD"}},{"type":"TAX","subtotal":{"amount":"",'
    '"currencyCode":"USD"}}]},"fulfillment":{"quantityFulfilled":1,"quantityUnfulfilled":0}}],'
    '"packages":[{"packageReferenceId":"","createdTime":"2026-","packageStatus":{"status":"SHIPPED"},'
    '"carrier":"UPS","shipTime":"2026-","trackingNumber":"","shippingService":"UPS Standard",'
    '"packageItems":[{"orderItemId":"","quantity":1}]}]}'
).encode("utf-8")

# Migration 10: dictionary 1 behind the parts of the Order model it lacked (item tax
# collections and detailed breakdowns, tax registrations, points, shipping constraints,
# associated orders, gift wrap and other charges; key names and the model's enum values and
# examples, orders_2026-01-01.json; carriers from domain.codes.CARRIER_CODES): ~11 % smaller
# on real-shaped orders (576 -> 511 B per order at 10,000).
_DICTIONARY_2 = (
    '"associatedOrders":[{"orderId":"","associationType":"REPLACEMENT_ORIGINAL_ID"}]'
    '"palletDelivery":"","recipientAgeVerification":"","signatureConfirmation":"MANDATORY",'
    '"shipping":{"shippingConstraints":{"signatureConfirmation":"MANDATORY"}}'
    '"expense":{"pointsCost":{"pointsGranted":{"pointsNumber":,"pointsMonetaryValue":{"amount":"","currencyCode":"JPY"}}}}'
    '"taxInvoicing":{"buyerInvoicePreference":"BUSINESS"}'
    '"taxRegistrationAttributes":[{"key":"","value":""}]'
    '"taxRegistrations":[{"entityType":"BUYER","taxRegistrationType":"VAT","taxRegistrationNumber":"",'
    '"legalName":"","taxRegistrationType":"VAT","taxRegistrationNumber":"","entityType":"MARKETPLACE","legalName":""}]'
    '"currencyCode":"JPY"},"marketplaceName":"Amazon.co.jp"},"marketplaceName":"Amazon.com.mx"},'
    '"marketplaceName":"Amazon.it"},"marketplaceName":"Amazon.es"},'
    '"fulfillmentStatus":"UNSHIPPED","fulfillmentServiceLevel":"SECOND_DAY",'
    '"carrier":"FedEx","carrier":"USPS","carrier":"DHL","carrier":"Amazon Shipping",'
    '{"type":"GIFT_WRAP","subtotal":{"amount":"","currencyCode":"USD"}},'
    '{"type":"OTHER","subtotal":{"amount":"","currencyCode":"USD"}},'
    '"packing":{"giftOption":{"giftMessage":"","giftWrapLevel":"STANDARD"}}'
    '"tax":{"taxCollections":[{"model":"MARKETPLACE_FACILITATOR","responsibleParty":""}]},'
    '{"type":"TAX","subtotal":{"amount":"","currencyCode":"USD"},"detailedBreakdowns":['
    '{"subtype":"ITEM","value":{"amount":"","currencyCode":"USD"}},'
    '{"subtype":"SHIPPING","value":{"amount":"","currencyCode":"USD"}},'
    '{"subtype":"GIFT_WRAP","value":{"amount":"","currencyCode":"USD"}}]}]},'
).encode("utf-8") + _DICTIONARY_1

_DICTIONARIES = {zlib.adler32(d): d for d in (_DICTIONARY_1, _DICTIONARY_2)}
_CURRENT = _DICTIONARY_2
LEVEL = 6  # 9 gains <1 % on ~2 KB orders
# One encoder for every order (json.dumps builds one per call), without the circular
# reference check: the order comes from json.loads and cannot refer to itself. Same text
# as json.dumps(raw, ensure_ascii=False, separators=(",", ":")), ~1.8x faster.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


# An item row as pack/unpack take it: (sku, title, asin) of amazon_order_items, by order_item_id
# (the order store/items.py compares a commerce item's (sku, name, asin) in).
ItemRows = Mapping[str, tuple]
_LEFT_OUT = 0x01  # format byte of a blob with product fields left out
_MASKS_END = 0xFF
# (key in the item's product, index in its row tuple); the bit is the position here (stored:
# never reorder).
_PRODUCT_FIELDS = (("sellerSku", 0), ("asin", 2), ("title", 1))


def split_masks(packed: bytes) -> tuple[bytes, bytes]:
    """A stored blob's item masks (b"" in the plain form) and its zlib stream. Raises
    ValueError when the masks have no end (a damaged blob)."""
    if packed[:1] != bytes((_LEFT_OUT,)):
        return b"", packed
    end = packed.find(_MASKS_END, 1)
    if end < 0:
        raise ValueError("stored order JSON is damaged: no end of its item masks")
    return packed[1:end], packed[end + 1 :]


def join_masks(masks: bytes, stream: bytes) -> bytes:
    """The stored blob of a zlib stream and its items' masks (``split_masks`` reversed)."""
    return bytes((_LEFT_OUT,)) + masks + bytes((_MASKS_END,)) + stream if masks else stream


def is_current(packed: bytes) -> bool:
    """Whether ``packed`` was made with the current dictionary (migration 10 re-packs the others)."""
    try:
        packed = split_masks(packed)[1]
    except ValueError:
        return False
    return len(packed) >= 6 and bool(packed[1] & 0x20) and int.from_bytes(packed[2:6], "big") == zlib.adler32(_CURRENT)


def _leave_out(raw: dict, items: ItemRows) -> tuple[dict, bytes]:
    """``raw`` with the product fields its item rows hold as "" (a copy where any is; ``raw``
    itself is not changed), and the items' masks (b"" when nothing is left out)."""
    order_items = raw.get("orderItems")
    if not isinstance(order_items, list):
        return raw, b""
    masks = bytearray()
    copied: list | None = None
    for index, item in enumerate(order_items):
        mask = 0
        product = item.get("product") if isinstance(item, dict) else None
        if isinstance(product, dict):
            row = items.get(as_text(item.get("orderItemId")))  # as the importer keys the row
            if row is not None:
                for bit, (key, at) in enumerate(_PRODUCT_FIELDS):
                    value = product.get(key)
                    if value.__class__ is str and value == row[at]:
                        mask |= 1 << bit
        masks.append(mask)
        if mask:
            product = dict(product)
            for bit, (key, _) in enumerate(_PRODUCT_FIELDS):
                if mask & 1 << bit:
                    product[key] = ""  # the key keeps its place
            if copied is None:
                copied = list(order_items)
            copied[index] = {**item, "product": product}
    if copied is None:
        return raw, b""
    return {**raw, "orderItems": copied}, bytes(masks.rstrip(b"\x00"))


def pack(raw: dict, items: ItemRows | None = None) -> bytes:
    """Amazon's order JSON as stored (compact JSON, UTF-8, zlib with the dictionary);
    ``items``: the order's item rows written with it, whose product fields are left out."""
    masks = b""
    if items:
        raw, masks = _leave_out(raw, items)
    text = _ENCODER.encode(raw).encode("utf-8")
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, zdict=_CURRENT)
    return join_masks(masks, compressor.compress(text) + compressor.flush())


def _inflate(packed: bytes, wbits: int, dictionary: bytes) -> bytes:
    """The bytes of a deflate stream made with ``dictionary``; zlib.error when it is cut
    short (a stream without its end, e.g. a truncated blob, decompresses without error)."""
    decompressor = zlib.decompressobj(wbits, zdict=dictionary)
    data = decompressor.decompress(packed) + decompressor.flush()
    if not decompressor.eof:
        raise zlib.error("incomplete stream")
    return data


def unpack(packed: bytes, items: ItemRows | None = None) -> dict:
    """The stored order JSON back as a dict, the product fields left out put back from
    ``items`` (None: left as "", for readers of other parts). Raises ValueError when
    unreadable, or when an item row it needs is not in ``items``."""
    masks, packed = split_masks(packed)
    try:
        if len(packed) >= 6 and packed[1] & 0x20:  # FDICT: a dictionary's Adler-32 follows
            dictionary = _DICTIONARIES.get(int.from_bytes(packed[2:6], "big"))
            if dictionary is None:
                raise ValueError("stored order JSON made with an unknown dictionary")
            data = _inflate(packed, zlib.MAX_WBITS, dictionary)
        else:
            data = zlib.decompress(packed)
        value = json.loads(data.decode("utf-8"))
    except zlib.error as err:
        raise ValueError(f"stored order JSON is damaged: {err}") from err
    if not isinstance(value, dict):
        raise ValueError("stored order JSON is not an object")
    if masks and items is not None:
        _put_back(value, masks, items)
    return value


def _put_back(raw: dict, masks: bytes, items: ItemRows) -> None:
    order_items = raw.get("orderItems")
    if not isinstance(order_items, list) or len(masks) > len(order_items):
        raise ValueError("stored order JSON is damaged: item masks beyond its items")
    for item, mask in zip(order_items, masks):
        if not mask:
            continue
        row = items.get(as_text(item.get("orderItemId"))) if isinstance(item, dict) else None
        product = item.get("product") if isinstance(item, dict) else None
        if row is None or not isinstance(product, dict):
            raise ValueError("stored order JSON needs an item row the store does not have")
        for bit, (key, at) in enumerate(_PRODUCT_FIELDS):
            if mask & 1 << bit:
                product[key] = row[at]


# History entries: the importer's wording (services/importer.py), most frequent last.
_HISTORY_DICTIONARY_1 = (
    '["Amazon status changed from  to ",null,"amazon","order"],'
    '["The buyer asked to cancel this order (",null,"amazon","order"],'
    '["Commerce order  created from Amazon order -.","pending","system","order"],'
    '["Invoiced USD .: Amazon collected the payment (captured offline).",null,"amazon","invoice"],'
    '["Seller Central reports 1 unit(s) shipped, tracking ; shipment recorded.",null,"amazon","shipment"],'
    '["Amazon reports 1 unit(s) shipped, tracking TBA; shipment recorded.",null,"amazon","shipment"],'
    '["Order is now complete (complete).","complete","system","order"]]'
).encode("utf-8")
_HISTORY_FORMATS = {1: _HISTORY_DICTIONARY_1}  # format byte -> dictionary; never change one
_HISTORY_CURRENT = 1


def pack_entries(entries: list) -> bytes:
    """A JSON list (history entries) as stored: format byte, raw deflate with its dictionary."""
    text = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=_HISTORY_FORMATS[_HISTORY_CURRENT])
    return bytes((_HISTORY_CURRENT,)) + compressor.compress(text) + compressor.flush()


def unpack_entries(packed: bytes) -> list:
    """The stored JSON list back. Raises ValueError when unreadable."""
    dictionary = _HISTORY_FORMATS.get(packed[0]) if packed else None
    if dictionary is None:
        raise ValueError("stored history entries in an unknown format")
    try:
        value = json.loads(_inflate(packed[1:], -zlib.MAX_WBITS, dictionary).decode("utf-8"))
    except zlib.error as err:
        raise ValueError(f"stored history entries are damaged: {err}") from err
    if not isinstance(value, list):
        raise ValueError("stored history entries are not a list")
    return value
