"""The record classes are msgspec.Structs (cheap to build at start-up, issue 15); what the
dataclasses they replaced guaranteed still holds: equality, hashing of frozen records,
repr without secrets or Amazon's raw JSON, ``replace``, and the generic JSON form."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from msgspec.structs import replace

from amzorders.config import AccountConfig, EmailSettings, Settings
from amzorders.domain.models import AmazonOrder, AmazonOrderItem, Money
from amzorders.serialize import jsonable, record_fields

WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _order(**changes) -> AmazonOrder:
    order = AmazonOrder("902-1845936-5435065", WHEN, WHEN, "UNSHIPPED", "A1PA6795UKMFR9",
                        items=(AmazonOrderItem("1", 2, sku="SKU-1"),), raw={"orderId": "902-1845936-5435065"})
    return replace(order, **changes)


def test_an_orders_raw_json_is_not_part_of_its_value():
    order, rescrubbed = _order(), _order(raw={"orderId": "902-1845936-5435065", "buyer": None})
    assert order == rescrubbed and not order != rescrubbed
    assert hash(order) == hash(rescrubbed)
    assert "orderId" not in repr(order) and "raw=" not in repr(order)
    assert order != _order(status="SHIPPED") and order != _order(items=())


def test_frozen_records_are_hashable_and_refuse_assignment():
    money = Money(Decimal("12.50"), "EUR")
    assert {money, Money(Decimal("12.50"), "EUR")} == {money}
    with pytest.raises(AttributeError):
        money.amount = Decimal(0)  # type: ignore[misc]
    with pytest.raises(TypeError, match="Decimal"):
        Money(12.5, "EUR")  # type: ignore[arg-type]  (__post_init__ still runs)


def test_secrets_stay_out_of_every_settings_repr():
    account = AccountConfig("main", "eu", ("A1PA6795UKMFR9",), client_id="id-1",
                            client_secret="s3cret-1", refresh_token="r3fresh-1")
    settings = Settings(Path("/c.toml"), True, Path("/d"), "postgresql://db@h/x", False, "main",
                        {"main": account}, email=EmailSettings(host="smtp", password="pa55"),
                        db_password="db-pa55")
    text = repr(settings)
    for secret in ("s3cret-1", "r3fresh-1", "pa55", "db-pa55"):
        assert secret not in text
    assert "client_id='id-1'" in text and "host='smtp'" in text  # the rest is shown


def test_jsonable_takes_structs_and_dataclasses_alike():
    @dataclasses.dataclass
    class Legacy:
        amount: Decimal
        raw: dict

    assert jsonable(Money(Decimal("1.5"), "EUR")) == {"amount": "1.5", "currency": "EUR"}
    assert jsonable(Legacy(Decimal("2"), {"x": 1})) == {"amount": "2"}  # raw left out, as before
    assert record_fields(Money) is None and record_fields({"a": 1}) is None
    assert jsonable(_order())["items"][0]["sku"] == "SKU-1"
