"""Campaigns side by side: contact rate, answer rate, abandon rate, outcomes and what each outcome cost.

Each column is computed from the campaign's own report (``build_campaign_report``), so every figure means here what
it means on the report page. Costs stay in each campaign's currency (its trunk's); the totals line sums per
currency and never across two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from campaigns.models import Campaign
from campaigns.reports.report import CampaignReport, build_campaign_report

MAX_COMPARED = 6  # columns that still fit at 1440 px


@dataclass(frozen=True)
class OutcomeCell:
    """One outcome of one campaign: contacts with it, their share of the contacts dialed, and its cost each."""

    contacts: int
    share: float | None
    cost_each: Decimal | None
    currency: str


@dataclass(frozen=True)
class ComparedCampaign:
    """The figures of one campaign's column."""

    campaign: Campaign
    currency: str
    contacts: int
    contacts_dialed: int
    contacts_reached: int  # a person answered
    contact_rate: float | None  # reached / dialed contacts
    answer_rate: float | None
    abandoned: int
    human_connected: int
    abandon_rate: float | None
    cost_total: Decimal
    outcomes: dict[str, OutcomeCell]

    @classmethod
    def from_report(cls, report: CampaignReport) -> ComparedCampaign:
        """Read one column off the campaign's report."""
        stages = {s.key: s for s in report.funnel}
        dialed, reached = stages["attempted"].contacts, stages["human"].contacts
        currency = report.campaign.trunk.currency
        outcomes = {
            o.label: OutcomeCell(
                o.contacts,
                o.contacts / dialed if dialed else None,
                (report.cost_total / o.contacts).quantize(Decimal("0.01")) if o.contacts else None,
                currency,
            )
            for o in report.outcomes
        }
        return cls(
            campaign=report.campaign,
            currency=currency,
            contacts=report.contacts_total,
            contacts_dialed=dialed,
            contacts_reached=reached,
            contact_rate=reached / dialed if dialed else None,
            answer_rate=report.answer_rate,
            abandoned=report.abandoned,
            human_connected=report.human_connected,
            abandon_rate=report.abandoned_rate,
            cost_total=report.cost_total,
            outcomes=outcomes,
        )


@dataclass(frozen=True)
class Comparison:
    """Two or more campaigns side by side."""

    columns: list[ComparedCampaign]
    outcome_labels: list[str]  # every label any of them recorded, in first-seen order
    spend_by_currency: list[tuple[str, Decimal]]

    def outcome_rows(self) -> list[tuple[str, list[OutcomeCell | None]]]:
        """Per outcome label, each campaign's cell (None: the campaign never recorded it)."""
        return [(label, [c.outcomes.get(label) for c in self.columns]) for label in self.outcome_labels]


def compare_campaigns(campaigns: Sequence[Campaign]) -> Comparison:
    """Build the comparison of ``campaigns`` (their trunks selected), in the order given.

    Raises:
        ValueError: fewer than two campaigns, or more than ``MAX_COMPARED``.
    """
    if not 2 <= len(campaigns) <= MAX_COMPARED:
        raise ValueError(f"Choose between 2 and {MAX_COMPARED} campaigns to compare.")
    columns = [ComparedCampaign.from_report(build_campaign_report(c)) for c in campaigns]
    labels: list[str] = []
    for column in columns:
        labels += [label for label in column.outcomes if label not in labels]
    spend: dict[str, Decimal] = defaultdict(Decimal)
    for column in columns:
        spend[column.currency] += column.cost_total  # one sum per currency, never across
    return Comparison(columns, labels, sorted(spend.items()))
