"""Amazon's code lists, as data: statuses, marketplaces, carriers, reasons.

Shared by the client, the simulator, the services and input validation, so that every
layer agrees on what a valid value is.
"""

from __future__ import annotations

import msgspec


# Orders API v2026-01-01 FulfillmentStatus.
FULFILLMENT_STATUSES: tuple[str, ...] = (
    "PENDING_AVAILABILITY",
    "PENDING",
    "UNSHIPPED",
    "PARTIALLY_SHIPPED",
    "SHIPPED",
    "CANCELLED",
    "UNFULFILLABLE",
)

FULFILLED_BY: tuple[str, ...] = ("MERCHANT", "AMAZON")

# searchOrders / getOrder includedData values.
INCLUDED_DATA: tuple[str, ...] = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
    "PAYMENT",
    "FULFILLMENT_ORDERS",
)

# What amzorders asks for on every read: everything it keeps and shows. Amazon sends a
# block only when asked (orders_2026-01-01.json, includedData): TAX brings the buyer's and
# the marketplace's tax registrations (a B2B invoice needs the buyer's VAT id), EXPENSE
# the points granted. PAYMENT and FULFILLMENT_ORDERS are not used.
DEFAULT_INCLUDED_DATA: tuple[str, ...] = (
    "BUYER",
    "RECIPIENT",
    "PROCEEDS",
    "EXPENSE",
    "PROMOTION",
    "CANCELLATION",
    "FULFILLMENT",
    "PACKAGES",
    "TAX",
)

# Order.programs "Possible values" (orders_2026-01-01.json).
ORDER_PROGRAMS: tuple[str, ...] = (
    "AMAZON_BAZAAR",
    "AMAZON_BUSINESS",
    "AMAZON_EASY_SHIP",
    "AMAZON_HAUL",
    "DELIVERY_BY_AMAZON",
    "FBM_SHIP_PLUS",
    "INVOICE_BY_AMAZON",
    "IN_STORE_PICK_UP",
    "PREMIUM",
    "PREORDER",
    "PRIME",
)
# SalesChannel.channelName, AssociatedOrder.associationType, PackageStatus.status.
CHANNEL_NAMES: tuple[str, ...] = ("AMAZON", "NON_AMAZON")
ASSOCIATION_TYPES: tuple[str, ...] = ("REPLACEMENT_ORIGINAL_ID", "EXCHANGE_ORIGINAL_ID")
PACKAGE_STATUSES: tuple[str, ...] = ("PENDING", "IN_TRANSIT", "SHIPPED", "DELIVERED", "CANCELLED", "UNDELIVERABLE")


class Marketplace(msgspec.Struct, frozen=True):
    marketplace_id: str
    country: str
    name: str
    currency: str
    region: str  # na / eu / fe


MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in (
        Marketplace("ATVPDKIKX0DER", "US", "Amazon.com", "USD", "na"),
        Marketplace("A2EUQ1WTGCTBG2", "CA", "Amazon.ca", "CAD", "na"),
        Marketplace("A1AM78C64UM0Y8", "MX", "Amazon.com.mx", "MXN", "na"),
        Marketplace("A2Q3Y263D00KWC", "BR", "Amazon.com.br", "BRL", "na"),
        Marketplace("A1F83G8C2ARO7P", "GB", "Amazon.co.uk", "GBP", "eu"),
        Marketplace("A1PA6795UKMFR9", "DE", "Amazon.de", "EUR", "eu"),
        Marketplace("A13V1IB3VIYZZH", "FR", "Amazon.fr", "EUR", "eu"),
        Marketplace("APJ6JRA9NG5V4", "IT", "Amazon.it", "EUR", "eu"),
        Marketplace("A1RKKUPIHCS9HS", "ES", "Amazon.es", "EUR", "eu"),
        Marketplace("A1805IZSGTT6HS", "NL", "Amazon.nl", "EUR", "eu"),
        Marketplace("AMEN7PMS3EDWL", "BE", "Amazon.com.be", "EUR", "eu"),
        Marketplace("A28R8C7NBKEWEA", "IE", "Amazon.ie", "EUR", "eu"),
        Marketplace("A2NODRKZP88ZB9", "SE", "Amazon.se", "SEK", "eu"),
        Marketplace("A1C3SOZRARQ6R3", "PL", "Amazon.pl", "PLN", "eu"),
        Marketplace("A33AVAJ2PDY3EV", "TR", "Amazon.com.tr", "TRY", "eu"),
        Marketplace("ARBP9OOSHTCHU", "EG", "Amazon.eg", "EGP", "eu"),
        Marketplace("A17E79C6D8DWNP", "SA", "Amazon.sa", "SAR", "eu"),
        Marketplace("A2VIGQ35RCS4UG", "AE", "Amazon.ae", "AED", "eu"),
        Marketplace("A21TJRUUN4KGV", "IN", "Amazon.in", "INR", "eu"),
        Marketplace("A19VAU5U5O7RUS", "SG", "Amazon.sg", "SGD", "fe"),
        Marketplace("A39IBJ37TRP1C6", "AU", "Amazon.com.au", "AUD", "fe"),
        Marketplace("A1VC38T7YXB528", "JP", "Amazon.co.jp", "JPY", "fe"),
    )
}

REGIONS: tuple[str, ...] = ("na", "eu", "fe")

# Where the UPLOAD_VAT_INVOICE feed is offered (Amazon's "Option 3: manually upload
# invoices" page: Spain, UK, France, Germany, Italy, Netherlands, Poland, Sweden).
VAT_INVOICE_MARKETPLACES: tuple[str, ...] = (
    "A1RKKUPIHCS9HS", "A1F83G8C2ARO7P", "A13V1IB3VIYZZH", "A1PA6795UKMFR9",
    "APJ6JRA9NG5V4", "A1805IZSGTT6HS", "A1C3SOZRARQ6R3", "A2NODRKZP88ZB9",
)

PRODUCTION_HOSTS: dict[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
SANDBOX_HOSTS: dict[str, str] = {
    "na": "https://sandbox.sellingpartnerapi-na.amazon.com",
    "eu": "https://sandbox.sellingpartnerapi-eu.amazon.com",
    "fe": "https://sandbox.sellingpartnerapi-fe.amazon.com",
}
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"

# Usage plans (requests per second, burst) from Amazon's API models.
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "searchOrders": (0.0056, 20),
    "getOrder": (0.5, 30),
    "confirmShipment": (2.0, 10),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    # Finances API v0 listFinancialEventsByOrderId: 0.5 req/s, burst 30 (financesV0.json).
    "listFinancialEventsByOrderId": (0.5, 30),
    # Messaging API v1, Solicitations API v1: 1 request/s, burst 5 each (messaging.json,
    # solicitations.json); Uploads API 2020-11-01: 10/s, burst 10 (uploads_2020-11-01.json).
    **{operation: (1.0, 5) for operation in (
        "getMessagingActionsForOrder", "GetAttributes", "createUnexpectedProblem",
        "createConfirmDeliveryDetails", "createConfirmOrderDetails", "createConfirmServiceDetails",
        "confirmCustomizationDetails", "CreateWarranty", "createLegalDisclosure",
        "createDigitalAccessKey", "sendInvoice", "getSolicitationActionsForOrder",
        "createProductReviewAndSellerFeedbackSolicitation",
    )},
    "createUploadDestinationForResource": (10.0, 10),
    # Notifications API v1: 1 request/s, burst 5 for every operation (notifications.json).
    **{operation: (1.0, 5) for operation in (
        "getSubscription", "createSubscription", "getSubscriptionById", "deleteSubscriptionById",
        "getDestinations", "createDestination", "getDestination", "deleteDestination",
    )},
}

# Notifications API (notifications.json; "Grantless Operations" in the SP-API developer
# guide): these operations take an LWA token of the client_credentials grant with this
# scope, not a seller's refresh-token grant; the others (createSubscription,
# getSubscription) act for the seller and take the seller's token.
NOTIFICATIONS_SCOPE = "sellingpartnerapi::notifications"
GRANTLESS_OPERATIONS: frozenset[str] = frozenset({
    "getDestinations", "createDestination", "getDestination", "deleteDestination",
    "getSubscriptionById", "deleteSubscriptionById",
})
# The notification types amzorders subscribes to, with the payload version of the schemas
# in notifications/*.json.
NOTIFICATION_TYPES: dict[str, str] = {"ORDER_CHANGE": "1.0", "FEED_PROCESSING_FINISHED": "2020-09-04"}
# The AWS account through which the SP-API delivers to SQS; the queue policy must allow it
# sqs:SendMessage and sqs:GetQueueAttributes (Notifications API v1 use case guide, "Grant
# Selling Partner API permission to write to your SQS queue").
SPAPI_NOTIFICATIONS_PRINCIPAL = "437568002678"

# Cancel reasons accepted in POST_ORDER_ACKNOWLEDGEMENT_DATA (StatusCode Failure).
CANCEL_REASONS: tuple[str, ...] = (
    "NoInventory",
    "ShippingAddressUndeliverable",
    "CustomerExchange",
    "BuyerCanceled",
    "GeneralAdjustment",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "CustomerReturn",
    "MerchandiseNotReceived",
)

# A credit memo on an order Amazon has not charged goes out as a cancellation: its
# AdjustmentReason as the nearest CancelReason of the acknowledgement feed (both lists as
# above; a reason without a counterpart is GeneralAdjustment).
CANCEL_REASON_OF_ADJUSTMENT: dict[str, str] = {
    "NoInventory": "NoInventory",
    "ProductOutofStock": "NoInventory",
    "CouldNotShip": "NoInventory",
    "CustomerCancel": "BuyerCanceled",
    "CustomerReturn": "CustomerReturn",
    "Exchange": "CustomerExchange",
    "CustomerAddressIncorrect": "ShippingAddressUndeliverable",
    "Undeliverable": "ShippingAddressUndeliverable",
    "CarrierCreditDecision": "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid": "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure": "CarrierCoverageFailure",
}

# AdjustmentReason values accepted in POST_PAYMENT_ADJUSTMENT_DATA.
ADJUSTMENT_REASONS: tuple[str, ...] = (
    "NoInventory",
    "CustomerReturn",
    "GeneralAdjustment",
    "CouldNotShip",
    "DifferentItem",
    "Abandoned",
    "CustomerCancel",
    "PriceError",
    "ProductOutofStock",
    "CustomerAddressIncorrect",
    "Exchange",
    "Other",
    "CarrierCreditDecision",
    "RiskAssessmentInformationNotValid",
    "CarrierCoverageFailure",
    "TransactionRecord",
    "Undeliverable",
    "RefusedDelivery",
)

# Adjustment-feed component type -> the ChargeType Amazon's financial events use for it
# (financesV0.json ChargeComponent: Principal, Tax, ShippingCharge, ShippingTax, Giftwrap,
# GiftwrapTax, CODItemCharge, CODItemTaxCharge, Goodwill, RestockingFee, ReturnShipping...).
FINANCE_CHARGE_TYPES: dict[str, str] = {
    "Principal": "Principal", "Tax": "Tax", "Shipping": "ShippingCharge", "ShippingTax": "ShippingTax",
    "GiftWrap": "Giftwrap", "GiftWrapTax": "GiftwrapTax", "COD": "CODItemCharge", "CODTax": "CODItemTaxCharge",
    "Goodwill": "Goodwill", "RestockingFee": "RestockingFee", "ReturnShipping": "ReturnShipping",
    "RestockingFeeTax": "RestockingFeeTax", "Other": "Other", "Surcharge": "Surcharge", "ExportCharge": "ExportCharge",
    "FreeReplacementReturnShipping": "FreeReplacementReturnShipping",
}

# Price component types of an AdjustedItem.
ADJUSTMENT_COMPONENTS: tuple[str, ...] = (
    "Principal",
    "Shipping",
    "Tax",
    "ShippingTax",
    "RestockingFee",
    "RestockingFeeTax",
    "GiftWrap",
    "GiftWrapTax",
    "Surcharge",
    "ReturnShipping",
    "Goodwill",
    "ExportCharge",
    "COD",
    "CODTax",
    "Other",
    "FreeReplacementReturnShipping",
)

# Carrier codes accepted by confirmShipment (Amazon's CarrierCode list, the carriers a
# seller is likely to use). "Other" requires a carrierName.
CARRIER_CODES: tuple[str, ...] = (
    "USPS",
    "UPS",
    "UPSMI",
    "FedEx",
    "FedEx SmartPost",
    "DHL",
    "DHL eCommerce",
    "DHL Express",
    "DHL Global Mail",
    "OnTrac",
    "LaserShip",
    "Amazon Shipping",
    "Canada Post",
    "Purolator",
    "Royal Mail",
    "Parcelforce",
    "DPD",
    "Hermes",
    "Yodel",
    "Evri",
    "Deutsche Post",
    "GLS",
    "Hermes Logistik Gruppe",
    "Chronopost",
    "Colissimo",
    "La Poste",
    "Poste Italiane",
    "BRT",
    "SDA",
    "Correos",
    "SEUR",
    "MRW",
    "PostNL",
    "Japan Post",
    "Yamato Transport",
    "Sagawa Express",
    "Australia Post",
    "StarTrack",
    "Singapore Post",
    "India Post",
    "Blue Dart",
    "Delhivery",
    "Estafeta",
    "Correios",
    "Other",
)


def carrier_code_canonical(value: str) -> str | None:
    """The carrier code as Amazon spells it, matched case-insensitively, or None."""
    wanted = value.strip().casefold()
    for code in CARRIER_CODES:
        if code.casefold() == wanted:
            return code
    return None
