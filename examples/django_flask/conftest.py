import pytest
from pytest_django import Settings

from billing.app import create_app
from shop.asgi import application as shop


@pytest.fixture
def asgi_apps() -> dict[str, object]:
    """The shop (Django) at the root, the billing service (Flask) under /billing."""
    return {"/": shop, "/billing": create_app(shop_login_url="/accounts/login/")}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    """Django hashes passwords slowly on purpose; the tests need no such protection."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
