"""Static data for the simulated marketplace: products, prices, people and places.

Everything here is deterministic and independent of the simulator's seed, so a product
keeps its ASIN, SKU and title across marketplaces and runs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from amzorders.domain.codes import MARKETPLACES

# The marketplaces the generator sells in, by country code.
SIMULATED_COUNTRIES: tuple[str, ...] = ("US", "CA", "MX", "GB", "DE", "FR", "IT", "ES", "JP")
MARKETPLACE_BY_COUNTRY: dict[str, str] = {
    m.country: m.marketplace_id for m in MARKETPLACES.values() if m.country in SIMULATED_COUNTRIES
}
# Rough share of orders per marketplace (a US-centred seller that also sells abroad).
COUNTRY_WEIGHTS: tuple[int, ...] = (50, 8, 5, 12, 10, 5, 4, 3, 3)

from amzorders.domain.money import currency_digits as _iso_digits  # noqa: E402  (ISO 4217 minor units)

# Price of one USD in each currency, and sales-tax/VAT rates (applied on top of the price,
# so that grandTotal is the plain sum of the breakdowns).
FX_FROM_USD: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "CAD": Decimal("1.36"),
    "MXN": Decimal("17.2"),
    "GBP": Decimal("0.79"),
    "EUR": Decimal("0.92"),
    "JPY": Decimal("150"),
}
TAX_RATE: dict[str, Decimal] = {
    "US": Decimal("0.0725"),
    "CA": Decimal("0.13"),
    "MX": Decimal("0.16"),
    "GB": Decimal("0.20"),
    "DE": Decimal("0.19"),
    "FR": Decimal("0.20"),
    "IT": Decimal("0.22"),
    "ES": Decimal("0.21"),
    "JP": Decimal("0.10"),
}
SHIPPING_USD: Decimal = Decimal("4.99")

# Order id prefixes seen per marketplace.
ORDER_ID_PREFIXES: dict[str, tuple[str, ...]] = {
    "US": ("111", "112", "113", "114"),
    "CA": ("701", "702"),
    "MX": ("701", "702"),
    "GB": ("202", "203", "204", "205", "206"),
    "DE": ("302", "303", "304", "305", "306"),
    "FR": ("402", "403", "404", "405"),
    "IT": ("402", "403", "404", "405", "406"),
    "ES": ("402", "403", "404", "405", "407"),
    "JP": ("249", "250", "503"),
}

CARRIERS_BY_COUNTRY: dict[str, tuple[str, ...]] = {
    "US": ("USPS", "UPS", "FedEx", "Amazon Shipping"),
    "CA": ("Canada Post", "Purolator", "UPS"),
    "MX": ("Estafeta", "DHL", "FedEx"),
    "GB": ("Royal Mail", "DPD", "Evri", "Parcelforce"),
    "DE": ("Deutsche Post", "DHL", "DPD", "GLS", "Hermes Logistik Gruppe"),
    "FR": ("Colissimo", "Chronopost", "La Poste", "DPD"),
    "IT": ("Poste Italiane", "BRT", "SDA", "GLS"),
    "ES": ("Correos", "SEUR", "MRW"),
    "JP": ("Japan Post", "Yamato Transport", "Sagawa Express"),
}
AMAZON_CARRIER = "Amazon Logistics"


def currency_digits(currency: str) -> int:
    return _iso_digits(currency)


_EXPONENTS: dict[str, Decimal] = {}


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit (JPY: whole yen)."""
    exponent = _EXPONENTS.get(currency)
    if exponent is None:
        exponent = _EXPONENTS[currency] = Decimal(1).scaleb(-currency_digits(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Product:
    asin: str
    sku: str
    title: str
    price_usd: Decimal
    weight_kg: Decimal


_BRANDS = (
    "Northwind", "Acme", "Brightline", "Cascade", "Everpeak", "Harbor & Pine", "Lumen",
    "Modulo", "Oakridge", "Pinnacle", "Quillon", "Riverstone", "Solace", "Trailhead",
    "Umbra", "Vantage", "Willow Lane", "Zephyr",
)
_PRODUCTS = (
    ("Stainless Steel Water Bottle", "32 oz", 18, 35),
    ("Insulated Travel Mug", "16 oz", 14, 29),
    ("Bamboo Cutting Board Set", "3 pieces", 22, 45),
    ("Cast Iron Skillet", "10 inch", 24, 49),
    ("Silicone Baking Mat", "2 pack", 9, 19),
    ("Chef's Knife", "8 inch", 29, 89),
    ("French Press Coffee Maker", "34 oz", 21, 42),
    ("LED Desk Lamp", "dimmable", 25, 59),
    ("Wireless Charging Pad", "15W", 15, 35),
    ("USB-C Charging Cable", "6 ft, 2 pack", 8, 17),
    ("Bluetooth Speaker", "waterproof", 29, 79),
    ("Noise Cancelling Earbuds", "with case", 39, 129),
    ("Mechanical Keyboard", "tenkeyless", 49, 119),
    ("Ergonomic Mouse", "wireless", 19, 49),
    ("Laptop Stand", "aluminium", 26, 59),
    ("Yoga Mat", "6 mm", 19, 45),
    ("Resistance Bands Set", "5 levels", 12, 29),
    ("Adjustable Dumbbell", "25 lb", 59, 149),
    ("Hiking Backpack", "30 L", 39, 99),
    ("Camping Lantern", "rechargeable", 17, 39),
    ("Cotton Bath Towel Set", "4 pieces", 25, 55),
    ("Memory Foam Pillow", "queen", 29, 69),
    ("Scented Soy Candle", "8 oz", 11, 24),
    ("Ceramic Plant Pot", "6 inch", 13, 29),
    ("Garden Hose Nozzle", "8 patterns", 9, 21),
    ("Dog Chew Toy", "large", 8, 19),
    ("Cat Scratching Post", "32 inch", 22, 49),
    ("Kids' Building Blocks", "500 pieces", 19, 49),
    ("Jigsaw Puzzle", "1000 pieces", 13, 27),
    ("Notebook Set", "A5, dotted, 3 pack", 11, 24),
    ("Fountain Pen", "medium nib", 19, 59),
    ("Phone Case", "shockproof", 9, 25),
    ("Screen Protector", "tempered glass, 3 pack", 7, 15),
    ("Electric Toothbrush Heads", "8 pack", 15, 29),
    ("Hair Dryer", "ionic, 1875W", 29, 79),
    ("Facial Cleansing Brush", "silicone", 17, 39),
    ("Vitamin C Serum", "1 fl oz", 12, 28),
    ("Running Socks", "6 pairs", 13, 25),
    ("Rain Jacket", "packable", 39, 89),
    ("Wool Beanie", "one size", 11, 24),
)
_COLOURS = ("Black", "White", "Navy", "Graphite", "Sage Green", "Sand", "Red", "Sky Blue")
_ASIN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _build_catalog(size: int = 320) -> tuple[Product, ...]:
    rng = random.Random(20260101)
    seen: set[str] = set()
    products: list[Product] = []
    while len(products) < size:
        brand = rng.choice(_BRANDS)
        name, variant, low, high = rng.choice(_PRODUCTS)
        colour = rng.choice(_COLOURS)
        asin = "B0" + "".join(rng.choice(_ASIN_ALPHABET) for _ in range(8))
        if asin in seen:
            continue
        seen.add(asin)
        cents = rng.randint(low * 100, high * 100)
        price = Decimal(cents - cents % 100 + 99) / 100  # x.99 pricing
        sku_stem = "".join(word[0] for word in name.split() if word[0].isalnum()).upper()
        sku = f"{brand[:3].upper()}-{sku_stem}-{colour[:3].upper()}-{len(products):04d}"
        products.append(
            Product(
                asin=asin,
                sku=sku,
                title=f"{brand} {name}, {variant}, {colour}",
                price_usd=price,
                weight_kg=Decimal(rng.randint(1, 40)) / 10,
            )
        )
    return tuple(products)


CATALOG: tuple[Product, ...] = _build_catalog()


def price_in(product: Product, currency: str) -> Decimal:
    """The product's list price in a currency: converted, then rounded to a shop price."""
    converted = product.price_usd * FX_FROM_USD[currency]
    if currency == "JPY":
        return (converted / 10).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 10
    if currency == "MXN":
        return converted.quantize(Decimal(1), rounding=ROUND_HALF_UP) - Decimal("0.01")
    return converted.quantize(Decimal(1), rounding=ROUND_HALF_UP) - Decimal("0.01")


def shipping_in(currency: str) -> Decimal:
    converted = SHIPPING_USD * FX_FROM_USD[currency]
    if currency == "JPY":
        return (converted / 10).quantize(Decimal(1), rounding=ROUND_HALF_UP) * 10
    return quantize(converted, currency)


# People and places, per country: first names, last names, (city, region, postal code
# pattern), street names, phone prefix.
@dataclass(frozen=True)
class Locale:
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[tuple[str, str, str], ...]  # city, state/region, postal pattern (# digit, @ letter)
    streets: tuple[str, ...]
    street_format: str  # "{number} {street}" or "{street} {number}"
    phone_format: str  # '#' are digits
    email_domain: str
    companies: tuple[str, ...]


LOCALES: dict[str, Locale] = {
    "US": Locale(
        ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Emily", "Daniel", "Ashley"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Wilson", "Anderson"),
        (("Seattle", "WA", "981##"), ("Austin", "TX", "787##"), ("Denver", "CO", "802##"), ("Columbus", "OH", "432##"), ("Portland", "OR", "972##"), ("Raleigh", "NC", "276##"), ("Boston", "MA", "021##"), ("Phoenix", "AZ", "850##")),
        ("Main St", "Oak Ave", "Maple Dr", "Cedar Ln", "Park Blvd", "Lakeview Rd", "Washington St", "Elm St"),
        "{number} {street}",
        "+1 ###-###-####",
        "marketplace.amazon.com",
        ("Bluebird Dental LLC", "Cornerstone Schools", "Redwood Labs Inc.", "Summit Facilities Co."),
    ),
    "CA": Locale(
        ("Liam", "Olivia", "Noah", "Emma", "Ethan", "Charlotte", "Lucas", "Chloe"),
        ("Tremblay", "Martin", "Roy", "Wilson", "MacDonald", "Gagnon", "Taylor", "Campbell"),
        (("Toronto", "ON", "M#@ #@#"), ("Vancouver", "BC", "V#@ #@#"), ("Montreal", "QC", "H#@ #@#"), ("Calgary", "AB", "T#@ #@#")),
        ("King St W", "Queen St E", "Rue Sainte-Catherine", "Granville St", "Jasper Ave"),
        "{number} {street}",
        "+1 ###-###-####",
        "marketplace.amazon.ca",
        ("Maple Leaf Supplies Ltd.", "Northern Clinics Inc."),
    ),
    "MX": Locale(
        ("José", "María", "Juan", "Guadalupe", "Luis", "Fernanda", "Carlos", "Sofía"),
        ("Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez"),
        (("Ciudad de México", "CDMX", "0####"), ("Guadalajara", "JAL", "44###"), ("Monterrey", "NL", "64###"), ("Puebla", "PUE", "72###")),
        ("Av. Insurgentes Sur", "Calle Reforma", "Av. Juárez", "Calle Hidalgo", "Av. Revolución"),
        "{street} {number}",
        "+52 ## #### ####",
        "marketplace.amazon.com.mx",
        ("Comercializadora del Centro S.A. de C.V.", "Servicios Médicos Norte S.A."),
    ),
    "GB": Locale(
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Sophie", "Thomas", "Grace"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas", "Roberts", "Walker"),
        (("London", "Greater London", "SW1A #@@"), ("Manchester", "Greater Manchester", "M# #@@"), ("Bristol", "Bristol", "BS# #@@"), ("Leeds", "West Yorkshire", "LS# #@@"), ("Edinburgh", "Scotland", "EH# #@@")),
        ("High Street", "Station Road", "Church Lane", "Victoria Road", "Oak Avenue", "Mill Lane"),
        "{number} {street}",
        "+44 20 #### ####",
        "marketplace.amazon.co.uk",
        ("Kingsbridge Consulting Ltd", "Thames Valley Surgery"),
    ),
    "DE": Locale(
        ("Lukas", "Anna", "Leon", "Mia", "Finn", "Emma", "Jonas", "Lena", "Paul", "Hannah"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann"),
        (("Berlin", "Berlin", "10###"), ("München", "Bayern", "80###"), ("Hamburg", "Hamburg", "20###"), ("Köln", "Nordrhein-Westfalen", "50###"), ("Frankfurt am Main", "Hessen", "60###")),
        ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee", "Goethestraße"),
        "{street} {number}",
        "+49 30 #######",
        "marketplace.amazon.de",
        ("Bergmann Bürotechnik GmbH", "Praxis Dr. Keller"),
    ),
    "FR": Locale(
        ("Gabriel", "Louise", "Raphaël", "Jade", "Arthur", "Emma", "Louis", "Alice", "Jules", "Chloé"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"),
        (("Paris", "Île-de-France", "750##"), ("Lyon", "Auvergne-Rhône-Alpes", "6900#"), ("Marseille", "Provence-Alpes-Côte d'Azur", "130##"), ("Toulouse", "Occitanie", "310##")),
        ("rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire", "place de l'Église"),
        "{number} {street}",
        "+33 1 ## ## ## ##",
        "marketplace.amazon.fr",
        ("Atelier Lemoine SARL", "Cabinet Girard"),
    ),
    "IT": Locale(
        ("Leonardo", "Sofia", "Francesco", "Giulia", "Alessandro", "Aurora", "Lorenzo", "Alice"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
        (("Roma", "RM", "001##"), ("Milano", "MI", "201##"), ("Napoli", "NA", "801##"), ("Torino", "TO", "101##")),
        ("Via Roma", "Via Garibaldi", "Corso Italia", "Via Dante", "Piazza Verdi"),
        "{street} {number}",
        "+39 06 #### ####",
        "marketplace.amazon.it",
        ("Studio Bianchi S.r.l.", "Ferramenta Colombo S.p.A."),
    ),
    "ES": Locale(
        ("Hugo", "Lucía", "Martín", "Sofía", "Pablo", "Martina", "Daniel", "Julia"),
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez"),
        (("Madrid", "Madrid", "280##"), ("Barcelona", "Barcelona", "080##"), ("Valencia", "Valencia", "460##"), ("Sevilla", "Sevilla", "410##")),
        ("Calle Mayor", "Gran Vía", "Calle de Alcalá", "Avenida de la Constitución", "Paseo del Prado"),
        "{street} {number}",
        "+34 91 ### ## ##",
        "marketplace.amazon.es",
        ("Distribuciones Iberia S.L.", "Clínica Dental Sol S.L."),
    ),
    "JP": Locale(
        ("Haruto", "Yui", "Sota", "Hina", "Yuto", "Sakura", "Riku", "Aoi"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
        (("Shibuya-ku", "Tokyo", "150-00##"), ("Kita-ku", "Osaka", "530-00##"), ("Naka-ku", "Aichi", "460-00##"), ("Chuo-ku", "Fukuoka", "810-00##")),
        ("1-2 Jingumae", "3-5 Umeda", "2-8 Sakae", "4-1 Tenjin", "5-3 Ginza"),
        "{street}-{number}",
        "+81 3-####-####",
        "marketplace.amazon.co.jp",
        ("Yamato Trading K.K.", "Sakura Clinic"),
    ),
}

GIFT_MESSAGES: tuple[str, ...] = (
    "Happy birthday! Love, Sam",
    "Congratulations on the new home!",
    "Merry Christmas from all of us",
    "Thank you for everything",
    "Get well soon",
)


def fill_pattern(pattern: str, rng: random.Random) -> str:
    """Replace '#' with digits and '@' with capital letters."""
    digits = f"{rng.getrandbits(64):020d}"
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    pool = rng.getrandbits(64)
    out = []
    position = 0
    for char in pattern:
        if char == "#":
            out.append(digits[-1 - position % 19])
            position += 1
        elif char == "@":
            out.append(letters[pool % len(letters)])
            pool //= len(letters)
        else:
            out.append(char)
    return "".join(out)
