"""URL routes: the admin (at a configurable path) is the operator's interface."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from api.problem_types import problem_type
from api.v1 import api

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/v1/problems/<slug:slug>", problem_type, name="api-problem-type"),
    path("api/v1/", api.urls),
    path("", RedirectView.as_view(url=f"/{settings.ADMIN_URL}", permanent=False)),
]
