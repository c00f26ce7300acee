"""Search boxes that find a number whatever format it was typed in."""

from __future__ import annotations

import contextlib

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from campaigns.rules.phones import InvalidNumber, normalize_number

# Region used to read a national-format number typed into a search box.
SEARCH_REGION = "US"


class PhoneSearchMixin:
    """Search by phone number through the E.164 column, whatever format the operator types."""

    phone_search_field = "phone_e164"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip()
        digits = "".join(ch for ch in term if ch.isdigit())
        if len(digits) >= 6 and len(digits) * 2 >= len(term.replace(" ", "")):
            condition = Q(**{f"{self.phone_search_field}__contains": digits})
            # A partial number does not normalise: the digits match above is then all we can do.
            with contextlib.suppress(InvalidNumber):
                condition |= Q(**{self.phone_search_field: normalize_number(term, SEARCH_REGION).e164})
            return queryset.filter(condition), False
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


