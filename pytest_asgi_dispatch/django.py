"""Django's test-client habits for the combined site. Importing this module imports Django.

`Client` is `django.test.Client` whose requests reach every app of the mount table:
`client_class = Client` on a `TestCase` runs an existing suite against the combined site.
"""

from ._django_client import Client
from ._sites import close_sites

__all__ = ["Client", "close_sites"]
