"""Django's test-client habits for the combined site. Importing this module imports Django.

`Client` is `django.test.Client` whose requests reach every app of the mount table:
`client_class = Client` on a `TestCase` runs an existing suite against the combined site.
`force_login`, `login`, `logout`, `csrf_token` and `pass_csrf_checks` do the same for
the httpx clients (`asgi_client`, `asgi_sync_client`, `dispatch()`'s); `a`-prefixed
versions of the first four are for async tests.
"""

from ._django_auth import (
    acsrf_token,
    aforce_login,
    alogin,
    alogout,
    csrf_token,
    force_login,
    login,
    logout,
    pass_csrf_checks,
)
from ._django_client import Client
from ._sites import close_sites

__all__ = [
    "Client",
    "acsrf_token",
    "aforce_login",
    "alogin",
    "alogout",
    "close_sites",
    "csrf_token",
    "force_login",
    "login",
    "logout",
    "pass_csrf_checks",
]
