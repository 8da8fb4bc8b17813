"""Amazon's order JSON as the store keeps it: compact UTF-8 JSON, zlib-compressed with a
preset dictionary.

An order is ~2-3 KB of JSON, most of it the same keys and enum values in every order
(Orders API v2026-01-01 ``Order`` schema). zlib alone gets it to ~45 %; a preset
dictionary holding that common text lets even the first occurrence of each key be a back
reference (~25 %). The dictionary is identified by zlib itself: a stream made with one
carries the dictionary's Adler-32 in its header (RFC 1950, FDICT), so ``unpack`` picks the
right one and a future dictionary can be added to ``_DICTIONARIES`` without rewriting old
rows. Never change a dictionary once released; add a new one and make it ``_CURRENT``.
"""

from __future__ import annotations

import json
import zlib

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

_DICTIONARIES = {zlib.adler32(_DICTIONARY_1): _DICTIONARY_1}
_CURRENT = _DICTIONARY_1
LEVEL = 6  # 9 gains <1 % on ~2 KB orders
# One encoder for every order (json.dumps builds one per call), without the circular
# reference check: the order comes from json.loads and cannot refer to itself. Same text
# as json.dumps(raw, ensure_ascii=False, separators=(",", ":")), ~1.8x faster.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def pack(raw: dict) -> bytes:
    """Amazon's order JSON as stored (compact JSON, UTF-8, zlib with the dictionary)."""
    text = _ENCODER.encode(raw).encode("utf-8")
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, zlib.MAX_WBITS, zdict=_CURRENT)
    return compressor.compress(text) + compressor.flush()


def unpack(packed: bytes) -> dict:
    """The stored order JSON back as a dict. Raises ValueError when unreadable."""
    try:
        if len(packed) >= 6 and packed[1] & 0x20:  # FDICT: a dictionary's Adler-32 follows
            dictionary = _DICTIONARIES.get(int.from_bytes(packed[2:6], "big"))
            if dictionary is None:
                raise ValueError("stored order JSON made with an unknown dictionary")
            decompressor = zlib.decompressobj(zlib.MAX_WBITS, zdict=dictionary)
            data = decompressor.decompress(packed) + decompressor.flush()
            if not decompressor.eof:  # cut short (the checksum at the end is missing)
                raise zlib.error("incomplete stream")
        else:
            data = zlib.decompress(packed)
        value = json.loads(data.decode("utf-8"))
    except zlib.error as err:
        raise ValueError(f"stored order JSON is damaged: {err}") from err
    if not isinstance(value, dict):
        raise ValueError("stored order JSON is not an object")
    return value
