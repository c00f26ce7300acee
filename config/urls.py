"""URL routes: the admin (at a configurable path) is the operator's interface."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", RedirectView.as_view(url=f"/{settings.ADMIN_URL}", permanent=False)),
]
