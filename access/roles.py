"""The shipped groups (operator, analyst, supervisor, admin) as data, and their idempotent sync.

Each role is the exact set of permissions its group holds. ``sync_roles`` runs after every ``migrate`` (and as
``manage.py sync_roles``): it creates missing groups and sets each shipped group's permissions to its list, so
an upgrade that adds a permission reaches every deployment. A changed copy belongs in a group of its own name:
the shipped groups are reset to their definition.

| role | for | may |
|---|---|---|
| operator | runs campaigns day to day | campaigns (start/pause), contacts (edit, import), do-not-call; |
| | | reports show aggregates only |
| analyst | reads results | every view, attempt details, transcripts, exports; changes nothing |
| supervisor | owns the calling | operator + analyst + recordings, agent profiles, retry rules, caller ids, |
| | | trunk tests, the export log |
| admin | owns the system | every permission of the product apps, and the users and groups |

Integrations and compliance (the table in docs/security.md says why):

- API keys and webhook endpoints are integration secrets: only the admin creates, changes, revokes or rotates
  them. A key carries the permissions of its groups, so issuing one is granting rights. Supervisors may view the
  API keys (name, prefix, owner, groups, last use: the key itself is shown once and only its digest is stored)
  and the API audit log; nobody but the admin views an endpoint, whose page shows its signing secret.
- The webhook events and delivery log are read by supervisors, who may replay events and deliveries to the
  endpoints that got them; a replay of an endpoint's time range is done from the endpoint, by the admin.
- Compliance records: every role sees the governor's campaign history, the national DNC downloads, consent, the
  company rules and each campaign's compliance settings. Supervisors add and change consent (and revoke it),
  company rules and campaign compliance settings; deleting a rule or a campaign's settings is the admin's.
  Dial evidence and reassigned-number answers (numbers with their checks) are read by analysts, supervisors and
  admins; evidence is read-only for everyone, and its export needs ``access.export_contacts``.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db import transaction

OPERATOR = "operator"
ANALYST = "analyst"
SUPERVISOR = "supervisor"
ADMIN = "admin"

# Product apps whose every permission the admin role holds.
PRODUCT_APPS = ("campaigns", "telephony", "access", "api", "webhooks", "compliance")

_VIEW_ALL = frozenset({
    "campaigns.view_agentprofile", "campaigns.view_campaign", "campaigns.view_retryrule",
    "campaigns.view_contact", "campaigns.view_donotcall", "campaigns.view_importjob",
    "telephony.view_trunk", "telephony.view_callerid",
    "compliance.view_campaignhistory", "compliance.view_nationaldnclist", "compliance.view_consentrecord",
    "compliance.view_companyrule", "compliance.view_campaigncompliance",
})

ROLES: dict[str, frozenset[str]] = {
    OPERATOR: _VIEW_ALL - {"campaigns.view_retryrule"} | {
        "campaigns.change_campaign", "campaigns.add_campaign",
        "campaigns.change_contact",
        "campaigns.add_importjob",
        "campaigns.add_donotcall",
    },
    ANALYST: _VIEW_ALL | {
        "campaigns.view_callattempt",
        "access.read_transcript", "access.export_contacts",
        "compliance.view_dialevidence", "compliance.view_reassignednumberresult",
    },
}
ROLES[SUPERVISOR] = ROLES[OPERATOR] | ROLES[ANALYST] | {
    "campaigns.listen_recording",
    "campaigns.add_agentprofile", "campaigns.change_agentprofile",
    "campaigns.add_retryrule", "campaigns.change_retryrule", "campaigns.delete_retryrule",
    "campaigns.change_donotcall", "campaigns.delete_donotcall",
    "telephony.change_trunk",  # the "Test trunk" action (F16)
    "telephony.add_callerid", "telephony.change_callerid",
    "access.view_exportrecord",  # who exported what
    "api.view_apikey", "api.view_auditentry",  # no secret on these pages; issuing and revoking is the admin's
    "webhooks.view_webhookevent", "webhooks.change_webhookevent",  # change: the replay action (pages read-only)
    "webhooks.view_webhookdelivery", "webhooks.change_webhookdelivery",
    "compliance.add_consentrecord", "compliance.change_consentrecord",  # change: the revoke action too
    "compliance.add_companyrule", "compliance.change_companyrule",
    "compliance.add_campaigncompliance", "compliance.change_campaigncompliance",
}


def role_permissions(role: str) -> set[str]:
    """The ``app_label.codename`` permissions of a shipped role (the admin's are read from the database)."""
    if role == ADMIN:
        # Users, groups and their TOTP devices (otp_totp) are the admin role's too.
        rows = Permission.objects.filter(content_type__app_label__in=(*PRODUCT_APPS, "auth", "otp_totp"))
        return {f"{p.content_type.app_label}.{p.codename}" for p in rows.select_related("content_type")}
    return set(ROLES[role])


@transaction.atomic
def sync_roles(using: str = "default") -> dict[str, int]:
    """Create the shipped groups and set each one's permissions to its definition. Idempotent.

    Raises:
        LookupError: a role names a permission that does not exist (a renamed model or a typo): failing loudly
            beats shipping a group that silently lacks a right, or holds a stale one.

    Returns:
        The number of permissions of each group.
    """
    all_perms = {f"{p.content_type.app_label}.{p.codename}": p
                 for p in Permission.objects.using(using).select_related("content_type")}
    counts = {}
    for role in (OPERATOR, ANALYST, SUPERVISOR, ADMIN):
        wanted = role_permissions(role)
        missing = sorted(wanted - all_perms.keys())
        if missing:
            raise LookupError(f"role {role!r} names unknown permissions: {', '.join(missing)}")
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([all_perms[name] for name in sorted(wanted)])
        counts[role] = len(wanted)
    return counts
