"""Trunk credentials, resolved by the UA worker itself from the trunk rows: commands never carry them."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, close_old_connections

from telephony.contract import TrunkSpec
from telephony.models import Trunk
from telephony.ua.ledger import LedgerUnavailable


def with_credentials(spec: TrunkSpec) -> TrunkSpec:
    """`spec` (and its failover) with the passwords of their trunk rows.

    Raises:
        LookupError: the trunk no longer exists.
        LedgerUnavailable: the database cannot be reached (do not dial).
    """
    ids = [spec.id] + ([spec.failover.id] if spec.failover else [])
    try:
        passwords = dict(Trunk.objects.filter(pk__in=ids).values_list("id", "password"))
    except (OperationalError, InterfaceError) as exc:
        close_old_connections()
        raise LedgerUnavailable(f"trunk credentials: {type(exc).__name__}") from exc
    if spec.id not in passwords:
        raise LookupError(f"trunk {spec.id} does not exist")
    failover_password = passwords.get(spec.failover.id, "") if spec.failover else ""
    return spec.with_password(passwords[spec.id], failover_password)
