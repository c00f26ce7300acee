"""A campaign's spend against its optional budget cap.

Spend is billed seconds (answer to end) x the per-minute rate of the trunk that carried the call, in that trunk's
currency. It is kept as one running total per campaign, added to in the transaction that charges the attempt, so
the cap check reads one row instead of summing every attempt of the campaign at each call end. The total lives in
its own row, not on the campaign: the dispatcher locks campaign rows while it claims, and call ends must not queue
behind it.

A campaign's spend is in one currency: a failover trunk must share its primary's currency (telephony/forms.py),
and a campaign with spend cannot move to a trunk of another currency (campaigns/forms.py).

Imported by ``campaigns.models`` (the app's model registry); kept apart to keep that module short.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, models


class CampaignSpend(models.Model):
    """The running cost of a campaign's calls, in its trunk's currency."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, primary_key=True, related_name="spend"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal(0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "campaign spend"
        verbose_name_plural = "campaign spend"

    def __str__(self) -> str:
        return f"spend of campaign {self.campaign_id}: {self.amount}"


def add_spend(campaign_id: int, amount: Decimal) -> None:
    """Add ``amount`` (may be negative: a corrected charge) to the campaign's spend, in the caller's transaction.

    One upsert: the first call end of a campaign creates its row, later ones add to it under the row lock, so
    concurrent call ends never lose an addition.
    """
    if not amount:
        return
    table = CampaignSpend._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, amount, updated_at) VALUES (%s, %s, now()) "  # noqa: S608
            f"ON CONFLICT (campaign_id) DO UPDATE SET amount = {table}.amount + EXCLUDED.amount, updated_at = now()",
            [campaign_id, amount],
        )


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A campaign's spend against its cap, as the console shows it."""

    cap: Decimal | None
    spent: Decimal
    currency: str

    @property
    def reached(self) -> bool:
        """Whether the spend has reached the cap."""
        return self.cap is not None and self.spent >= self.cap

    @property
    def fraction(self) -> float | None:
        """Spend over cap (None without a cap)."""
        return float(self.spent / self.cap) if self.cap else None

    @property
    def label(self) -> str:
        """ "12.34 of 50.00 USD spent" or "12.34 USD spent (no cap)"."""
        spent = self.spent.quantize(Decimal("0.01"))
        if self.cap is None:
            return f"{spent} {self.currency} spent (no budget cap)"
        return f"{spent} of {self.cap} {self.currency} spent"


def spend_by_campaign(campaign_ids: Iterable[int]) -> dict[int, Decimal]:
    """The spend of each campaign (0 for one without a charged call)."""
    ids = list(campaign_ids)
    found = dict(CampaignSpend.objects.filter(campaign_id__in=ids).values_list("campaign_id", "amount"))
    return {cid: found.get(cid, Decimal(0)) for cid in ids}


def budget_state(campaign_id: int, cap: Decimal | None, currency: str) -> BudgetState:
    """The campaign's spend against its cap."""
    return BudgetState(cap, spend_by_campaign([campaign_id])[campaign_id], currency)
