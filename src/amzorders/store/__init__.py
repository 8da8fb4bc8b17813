"""The SQLite order store: the only package that contains SQL.

``Store`` combines the repositories (one mixin per area, all on one connection).
"""

from __future__ import annotations

from amzorders.store.alerts import AlertsRepository
from amzorders.store.audit import AuditRepository
from amzorders.store.base import ConcurrentChangeError, StoreError
from amzorders.store.buyer_contact import BuyerContactRepository
from amzorders.store.checkpoints import CheckpointsRepository, ReadCheckpoint
from amzorders.store.documents import AmazonOrderFacts, DocumentsRepository
from amzorders.store.limits import LimitsRepository
from amzorders.store.notifications import NotificationsRepository, PoisonMessage
from amzorders.store.orders import OrdersRepository, StoredOrderState
from amzorders.store.outbox import OutboxRepository
from amzorders.store.retention import RetentionRepository


class Store(AlertsRepository, 
    OrdersRepository, OutboxRepository, LimitsRepository, DocumentsRepository, RetentionRepository,
    BuyerContactRepository, CheckpointsRepository, AuditRepository, NotificationsRepository,
):
    """One open store file. ``Store.open(path)`` creates and migrates it."""


__all__ = ["AmazonOrderFacts", "ConcurrentChangeError", "PoisonMessage", "ReadCheckpoint", "Store", "StoreError", "StoredOrderState"]
