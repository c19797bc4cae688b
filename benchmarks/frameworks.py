"""The Flask and Django "hello" apps the sync-client benchmarks serve.

Django is set up on first use (`settings.configure`, the middleware of a new
`startproject`; the view in `django_urls`), not at import: the Flask rows then run
in a process without Django, as in a Flask project.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

HELLO = "hello, world"

flask_app = Flask("bench")


@flask_app.get("/hello")
def flask_hello() -> str:
    return HELLO


def django_handlers() -> tuple[Any, Any]:
    """Django's ASGI and WSGI handlers for one hello view, settings configured once."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="benchmarks-only-not-secret",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF="django_urls",
            INSTALLED_APPS=[
                "django.contrib.auth",
                "django.contrib.contenttypes",
                "django.contrib.sessions",
                "django.contrib.messages",
            ],
            MIDDLEWARE=[
                "django.middleware.security.SecurityMiddleware",
                "django.contrib.sessions.middleware.SessionMiddleware",
                "django.middleware.common.CommonMiddleware",
                "django.middleware.csrf.CsrfViewMiddleware",
                "django.contrib.auth.middleware.AuthenticationMiddleware",
                "django.contrib.messages.middleware.MessageMiddleware",
                "django.middleware.clickjacking.XFrameOptionsMiddleware",
            ],
            DATABASES={},
        )
        django.setup()
    from django.core.asgi import get_asgi_application
    from django.core.wsgi import get_wsgi_application

    return get_asgi_application(), get_wsgi_application()
