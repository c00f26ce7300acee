"""Trunk passwords encrypted at rest (audit F8): Fernet tokens under rotatable keys from the environment.

``TRUNK_SECRET_KEYS`` lists Fernet keys (``Fernet.generate_key()``; comma separated): the first encrypts, every
one decrypts, so a key is rotated by putting a new one first, running ``manage.py rotate_trunk_secrets`` (which
re-encrypts every stored password under it) and then removing the old key. A database dump, a replica or a
backup then holds only tokens; the keys live with the processes that dial (web, worker, UA pool).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

TOKEN_PREFIX = "gAAAAA"  # noqa: S105 - not a secret: every Fernet token starts so (version byte 0x80, then the timestamp's high bytes)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("TRUNK_SECRET_KEYS is empty: trunk passwords cannot be encrypted or read.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("TRUNK_SECRET_KEYS holds a value that is not a Fernet key.") from exc


def fernet() -> MultiFernet:
    """The MultiFernet of the configured keys (first one encrypts)."""
    return _fernet(tuple(settings.TRUNK_SECRET_KEYS))


def encrypt(plain: str) -> str:
    """A token for ``plain``; the empty string stays empty (no password)."""
    return fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """The password of a stored token.

    Raises:
        ImproperlyConfigured: no configured key opens the token (a removed or wrong key): dialing with a wrong
            password would only lock the account at the carrier, so this fails loudly instead.
    """
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("a stored trunk password cannot be decrypted with TRUNK_SECRET_KEYS "
                                   "(a key was removed before `rotate_trunk_secrets` ran?)") from exc


def rotate(token: str) -> str:
    """The token re-encrypted under the first key."""
    return fernet().rotate(token.encode()).decode() if token else ""


class EncryptedPasswordField(models.TextField):
    """A text column holding a Fernet token; Python code sees the plain value.

    Not searchable or sortable (each encryption of a value differs), which suits a password.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str:
        return decrypt(value or "")

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        return encrypt(value or "")
