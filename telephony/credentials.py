"""Trunk credentials, resolved by the UA worker itself from the trunk rows: commands never carry them."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, close_old_connections

from telephony.choices import TrunkAuth
from telephony.contract import TrunkSpec
from telephony.models import Trunk
from telephony.ua.ledger import LedgerUnavailable


def with_credentials(spec: TrunkSpec) -> TrunkSpec:
    """`spec` (and its failover) with the passwords and TLS CA certificates of their trunk rows.

    Raises:
        LookupError: the trunk no longer exists.
        LedgerUnavailable: the database cannot be reached (do not dial).
    """
    ids = [spec.id] + ([spec.failover.id] if spec.failover else [])
    try:
        rows = {pk: (password, ca) for pk, password, ca in
                Trunk.objects.filter(pk__in=ids).values_list("id", "password", "tls_ca_pem")}
    except (OperationalError, InterfaceError) as exc:
        close_old_connections()
        raise LedgerUnavailable(f"trunk credentials: {type(exc).__name__}") from exc
    if spec.id not in rows:
        raise LookupError(f"trunk {spec.id} does not exist")
    failover = rows.get(spec.failover.id, ("", "")) if spec.failover else ("", "")
    # F5: the trust anchor comes from the trunk row, like the password, never from the command.
    return spec.with_password(rows[spec.id][0], failover[0]).with_tls_ca(rows[spec.id][1], failover[1])


def registration_trunks() -> list[TrunkSpec]:
    """The enabled REGISTER-mode trunks with their passwords, to register when a UA process starts.

    Built with the same fields the dialer puts in an originate command (`TrunkSpec.account_key`), so a later
    call on the trunk finds the account registered here instead of creating a second binding.
    """
    specs = []
    rows = Trunk.objects.filter(enabled=True, auth_mode=TrunkAuth.REGISTER).order_by("id")
    for trunk in rows:
        try:
            spec = TrunkSpec(id=trunk.pk, host=trunk.host, port=trunk.port, transport=trunk.transport,
                             auth_mode=trunk.auth_mode, username=trunk.username or "", realm=trunk.realm or "",
                             register_expiry_s=trunk.register_expiry_s, srtp_policy=trunk.srtp_policy)
        except ValueError:
            continue  # a row the dialer could not use either
        specs.append(spec.with_password(trunk.password).with_tls_ca(trunk.tls_ca_pem))
    return specs
