"""Words the tool itself writes on documents and buyer messages, per language.

English is the fallback for every language and every key. The language of a document
is the order's marketplace language; of a buyer message, the buyer's locale from the
Messaging API's GetAttributes.
"""

from __future__ import annotations

LANGUAGE_BY_MARKETPLACE: dict[str, str] = {
    "A1PA6795UKMFR9": "de", "A13V1IB3VIYZZH": "fr", "APJ6JRA9NG5V4": "it", "A1RKKUPIHCS9HS": "es",
    "A1AM78C64UM0Y8": "es", "A1VC38T7YXB528": "ja", "AMEN7PMS3EDWL": "fr", "A1805IZSGTT6HS": "en",
}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice", "credit_memo": "Credit memo", "packing_slip": "Packing slip",
        "order": "Order", "amazon_order": "Amazon order", "order_date": "Order date", "date": "Date",
        "ship_to": "Ship to", "sold_by": "Sold by", "vat_id": "VAT ID", "buyer_tax_id": "Buyer tax ID",
        "sku": "SKU", "product": "Product", "qty": "Qty", "unit_price": "Unit price", "total": "Total",
        "subtotal": "Subtotal", "discount": "Discount", "shipping": "Shipping", "tax": "Tax",
        "grand_total": "Grand total", "adjustment_refund": "Adjustment refund", "adjustment_fee": "Adjustment fee",
        "paid_by_amazon": "Paid through Amazon.", "refund_reason": "Reason", "carrier": "Carrier",
        "tracking": "Tracking", "gift_message": "Gift message", "po_number": "Purchase order",
        "invoice_message_note": "Invoice {number} for order {order} is attached.",
        "page": "Page",
    },
    "de": {
        "invoice": "Rechnung", "credit_memo": "Gutschrift", "packing_slip": "Lieferschein",
        "order": "Bestellung", "amazon_order": "Amazon-Bestellung", "order_date": "Bestelldatum", "date": "Datum",
        "ship_to": "Lieferadresse", "sold_by": "Verkäufer", "vat_id": "USt-IdNr.", "buyer_tax_id": "USt-IdNr. des Käufers",
        "sku": "SKU", "product": "Artikel", "qty": "Menge", "unit_price": "Einzelpreis", "total": "Summe",
        "subtotal": "Zwischensumme", "discount": "Rabatt", "shipping": "Versand", "tax": "MwSt.",
        "grand_total": "Gesamtbetrag", "adjustment_refund": "Zusätzliche Erstattung", "adjustment_fee": "Einbehaltene Gebühr",
        "paid_by_amazon": "Bezahlt über Amazon.", "refund_reason": "Grund", "carrier": "Versanddienst",
        "tracking": "Sendungsnummer", "gift_message": "Geschenknachricht", "po_number": "Bestellnummer des Käufers",
        "invoice_message_note": "Anbei die Rechnung {number} zur Bestellung {order}.", "page": "Seite",
    },
    "fr": {
        "invoice": "Facture", "credit_memo": "Avoir", "packing_slip": "Bon de livraison",
        "order": "Commande", "amazon_order": "Commande Amazon", "order_date": "Date de commande", "date": "Date",
        "ship_to": "Livrer à", "sold_by": "Vendu par", "vat_id": "N° TVA", "buyer_tax_id": "N° TVA de l'acheteur",
        "sku": "SKU", "product": "Article", "qty": "Qté", "unit_price": "Prix unitaire", "total": "Total",
        "subtotal": "Sous-total", "discount": "Remise", "shipping": "Livraison", "tax": "TVA",
        "grand_total": "Total TTC", "adjustment_refund": "Remboursement complémentaire", "adjustment_fee": "Frais retenus",
        "paid_by_amazon": "Payé via Amazon.", "refund_reason": "Motif", "carrier": "Transporteur",
        "tracking": "N° de suivi", "gift_message": "Message cadeau", "po_number": "Bon de commande",
        "invoice_message_note": "Veuillez trouver ci-joint la facture {number} de la commande {order}.", "page": "Page",
    },
    "es": {
        "invoice": "Factura", "credit_memo": "Factura rectificativa", "packing_slip": "Albarán",
        "order": "Pedido", "amazon_order": "Pedido de Amazon", "order_date": "Fecha del pedido", "date": "Fecha",
        "ship_to": "Enviar a", "sold_by": "Vendido por", "vat_id": "NIF-IVA", "buyer_tax_id": "NIF-IVA del comprador",
        "sku": "SKU", "product": "Producto", "qty": "Cant.", "unit_price": "Precio unitario", "total": "Total",
        "subtotal": "Subtotal", "discount": "Descuento", "shipping": "Envío", "tax": "IVA",
        "grand_total": "Importe total", "adjustment_refund": "Reembolso adicional", "adjustment_fee": "Cargo retenido",
        "paid_by_amazon": "Pagado a través de Amazon.", "refund_reason": "Motivo", "carrier": "Transportista",
        "tracking": "Seguimiento", "gift_message": "Mensaje de regalo", "po_number": "Orden de compra",
        "invoice_message_note": "Adjuntamos la factura {number} del pedido {order}.", "page": "Página",
    },
    "it": {
        "invoice": "Fattura", "credit_memo": "Nota di credito", "packing_slip": "Documento di trasporto",
        "order": "Ordine", "amazon_order": "Ordine Amazon", "order_date": "Data ordine", "date": "Data",
        "ship_to": "Spedire a", "sold_by": "Venduto da", "vat_id": "Partita IVA", "buyer_tax_id": "Partita IVA acquirente",
        "sku": "SKU", "product": "Articolo", "qty": "Qtà", "unit_price": "Prezzo unitario", "total": "Totale",
        "subtotal": "Subtotale", "discount": "Sconto", "shipping": "Spedizione", "tax": "IVA",
        "grand_total": "Totale", "adjustment_refund": "Rimborso aggiuntivo", "adjustment_fee": "Commissione trattenuta",
        "paid_by_amazon": "Pagato tramite Amazon.", "refund_reason": "Motivo", "carrier": "Corriere",
        "tracking": "Tracking", "gift_message": "Messaggio regalo", "po_number": "Ordine d'acquisto",
        "invoice_message_note": "In allegato la fattura {number} dell'ordine {order}.", "page": "Pagina",
    },
    "ja": {
        "invoice": "請求書", "credit_memo": "返金明細書", "packing_slip": "納品書",
        "order": "注文", "amazon_order": "Amazon注文番号", "order_date": "注文日", "date": "日付",
        "ship_to": "お届け先", "sold_by": "販売者", "vat_id": "登録番号", "buyer_tax_id": "購入者の登録番号",
        "sku": "SKU", "product": "商品", "qty": "数量", "unit_price": "単価", "total": "金額",
        "subtotal": "小計", "discount": "割引", "shipping": "配送料", "tax": "消費税",
        "grand_total": "合計", "adjustment_refund": "追加返金", "adjustment_fee": "手数料",
        "paid_by_amazon": "Amazonでお支払い済み。", "refund_reason": "理由", "carrier": "配送業者",
        "tracking": "追跡番号", "gift_message": "ギフトメッセージ", "po_number": "発注番号",
        "invoice_message_note": "ご注文{order}の請求書{number}を添付いたします。", "page": "ページ",
    },
}

LANGUAGES: tuple[str, ...] = tuple(TEXTS)


def texts_for(language: str | None) -> dict[str, str]:
    """The words in ``language``, English for any word (or language) without one."""
    chosen = TEXTS.get((language or "en").casefold(), {})
    return {**TEXTS["en"], **chosen}


def marketplace_language(marketplace_id: str | None) -> str:
    return LANGUAGE_BY_MARKETPLACE.get(marketplace_id or "", "en")
