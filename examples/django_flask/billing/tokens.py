"""The billing token: the shop (Django) issues it at login, billing (Flask) checks it.

Both services know the shared secret; neither needs the other's code or database.
"""

from itsdangerous import BadSignature, URLSafeTimedSerializer

TOKEN_COOKIE = "billing_token"
SHARED_SECRET = "example-only-shared-secret"
MAX_AGE_SECONDS = 3600

_serializer = URLSafeTimedSerializer(SHARED_SECRET, salt="billing-token")


def issue_token(username: str) -> str:
    return _serializer.dumps(username)


def customer_for(token: str) -> str | None:
    """The username a token names, or None if it is forged, garbled or expired."""
    try:
        return str(_serializer.loads(token, max_age=MAX_AGE_SECONDS))
    except BadSignature:
        return None
