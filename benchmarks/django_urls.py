"""The Django hello view of the sync-client benchmarks: `frameworks.django_handlers()`'s URLconf."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path
from frameworks import HELLO


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HELLO, content_type="text/plain")


urlpatterns = [path("hello", hello)]
