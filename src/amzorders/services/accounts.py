"""config check: does each account work? One Login with Amazon call, one searchOrders call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from amzorders.domain.models import utcnow
from amzorders.errors import AmzOrdersError


@dataclass(frozen=True)
class AccountCheck:
    account: str
    login: str  # "ok" or what failed
    search: str
    ok: bool

    def as_dict(self) -> dict:
        return {"account": self.account, "login": self.login, "search_orders": self.search, "ok": self.ok}


def check_account(name: str, client_factory: Callable[[], object], marketplace_ids: tuple[str, ...]) -> AccountCheck:
    """Log in (a fresh LWA token) and read one page of yesterday's orders."""
    try:
        client = client_factory()
        client.login()  # type: ignore[attr-defined]
    except AmzOrdersError as exc:
        return AccountCheck(name, f"FAILED: {exc.message}", "not tried", False)
    try:
        pages = client.search_orders(  # type: ignore[attr-defined]
            created_after=utcnow() - timedelta(days=1),
            marketplace_ids=marketplace_ids or None,
            max_results_per_page=1,
            included_data=None,
            read_ahead=False,  # one page is all it reads
        )
        next(iter(pages), None)
    except AmzOrdersError as exc:
        return AccountCheck(name, "ok", f"FAILED: {exc.message}", False)
    return AccountCheck(name, "ok", "ok", True)
