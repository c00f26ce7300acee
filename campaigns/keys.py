"""Every Redis key prefix and PostgreSQL advisory-lock id the control plane uses, in one registry.

Why one place: two features that picked the same lock id would block each other's work (or, worse, run while
the other believes it holds the lock), and a key prefix chosen twice would mix two features' counters. The UA
pool's keys (`ce:ua:`) belong to `telephony.ua_registry`, which the control plane reads through its functions.
"""

from __future__ import annotations

KEY_PREFIX = "ce:"  # every control-plane Redis key starts with it (leases, rate buckets, caller-ID counters)

# pg_advisory_lock ids. A single number is a session-level lock; a (namespace, id) pair a per-object one.
DISPATCHER_LOCK_ID = 0x6469616C  # "dial": only one dispatcher tick claims at a time
IMPORT_LOCK_NAMESPACE = 0x1C0_7AC7  # pg_advisory_xact_lock(namespace, campaign id): one import publishes at a time
# pg_advisory_lock(namespace, job id), held by the worker running an import for the whole run: a RUNNING job whose
# lock is free has lost its worker (F19).
IMPORT_RUN_LOCK_NAMESPACE = 0x1C0_7A11

ADVISORY_LOCK_KEYS: dict[str, int] = {
    "dispatcher": DISPATCHER_LOCK_ID,
    "contact_import": IMPORT_LOCK_NAMESPACE,
    "contact_import_run": IMPORT_RUN_LOCK_NAMESPACE,
}
