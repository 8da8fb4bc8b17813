"""The search index keeps buyer e-mails' relay domain as one character (migration 14,
store/searchtext.py): every term finds exactly the orders it found in the full text."""

from __future__ import annotations

import itertools
import json

from processing_support import AFN, PENDING, SECOND, UNSHIPPED, make_order, seed, store_at_schema

from amzorders.domain.textfold import fold_text
from amzorders.store import Store
from amzorders.store.migrations import MIGRATIONS
from amzorders.store.searchtext import MARK, RELAY_DOMAIN, indexed_text, search_patterns

TEXTS = [
    "111-0000001-0000001\n000000001\njane buyer\nj4ne.b+x@marketplace.amazon.de\nsku-a\nb0testaaaa\nwidget a",
    "111-0000002-0000002\nann@example.com\nbook about amazon.de and @marketplace.amazon. itself",
    "111-0000003-0000003\nbob@marketplace.amazon.co.uk\nmarketplace mug",
    "111-0000004-0000004\nno e-mail at all\nsku-\x1fodd",
]


def _found(term: str, text: str) -> bool:
    short = indexed_text(text)
    return any(pattern in short for pattern in search_patterns(fold_text(term)))


def test_every_substring_finds_the_texts_it_found_before_and_no_other():
    terms = {t[i:j] for t in TEXTS for i, j in itertools.combinations(range(len(t) + 1), 2) if j - i <= 40}
    terms |= {"@marketplace.amazon.fr", "x@marketplace.amazon.de", "marketplace.amazon.com", "@amazon", "de@",
              ".amazon.co", "amazon.de", "\x1f", "@"}
    for term, text in itertools.product(sorted(terms), TEXTS):
        # (the one difference: a MARK character of the text's own, or typed, is a space)
        assert _found(term, text) == (term.replace(MARK, " ") in text.replace(MARK, " ")), (term, text)


def test_the_index_keeps_the_domain_as_one_character():
    short = indexed_text(TEXTS[0])
    assert "j4ne.b+x" + MARK + "de" in short and RELAY_DOMAIN not in short
    assert len(short) == len(TEXTS[0]) - len(RELAY_DOMAIN) + 1
    assert MARK not in indexed_text(TEXTS[3])  # a control character of its own is a space
    assert search_patterns("sku-a") == ["sku-a"]  # a term away from the domain: one pattern, as before


ORDERS = (UNSHIPPED, AFN, PENDING, SECOND)
TERMS = ("jane@marketplace.amazon.com", "marketplace.amazon.com", "@marketplace", "amazon", "jane@", "ne@mar",
         ".com", "zon.c", "bob@marketplace.amazon.de", "amazon.de", "bob", "jane", "widget", "000000001", "@")


def _orders() -> list[dict]:
    return [make_order(UNSHIPPED), make_order(AFN, status="SHIPPED", fulfilled_by="AMAZON", shipped=2),
            make_order(PENDING, status="PENDING", email="bob@marketplace.amazon.de"),
            make_order(SECOND, email="second@example.com")]


def _searches(cli, db) -> dict:
    out = {}
    for term in TERMS:
        result = cli("--db", db, "list", "--search", term, "--json")
        assert result.exit_code == 0, result.stderr
        out[term] = {o["amazon_order_id"] for o in json.loads(result.stdout)}
    return out


def test_a_schema_13_store_migrates_and_every_search_finds_the_same_orders(tmp_path, cli, monkeypatch):
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    with store_at_schema(old, monkeypatch, 13) as store:
        seed(store, _orders())
        full = {r[0]: r[1] for r in store.conn.execute(
            "SELECT a.amazon_order_id, s.text FROM order_search s JOIN amazon_orders a ON a.id = s.rowid")}
    assert sum("@marketplace.amazon." in t for t in full.values()) == 3
    # What the full text found: the orders whose text holds the folded term.
    expected = {term: {oid for oid, text in full.items() if fold_text(term) in text} for term in TERMS}
    assert expected["@"] == set(ORDERS) and expected["bob@marketplace.amazon.de"] == {PENDING}
    assert expected["marketplace.amazon.com"] == {UNSHIPPED, AFN}
    with Store.open(old) as store:  # opening migrates
        assert store.schema_version() == MIGRATIONS[-1][0] >= 14
        migrated = {r[0]: r[1] for r in store.conn.execute(
            "SELECT a.amazon_order_id, s.text FROM order_search s JOIN amazon_orders a ON a.id = s.rowid")}
    assert migrated == {oid: indexed_text(text) for oid, text in full.items()}
    assert not any(RELAY_DOMAIN in t for t in migrated.values())
    assert _searches(cli, old) == expected
    with Store.open(new) as store:  # a new store writes what the migration left
        seed(store, _orders())
        assert {r[0]: r[1] for r in store.conn.execute(
            "SELECT a.amazon_order_id, s.text FROM order_search s JOIN amazon_orders a ON a.id = s.rowid")} == migrated
    assert _searches(cli, new) == expected
