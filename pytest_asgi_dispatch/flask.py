"""Flask's test-client habits for the combined site's httpx clients.

`session_transaction(client, mount="/flaskr")` is `FlaskClient.session_transaction()`
for a client of `dispatch()`, `dispatch_sync()` or the plugin's fixtures. Flask is
imported only when a Flask app is mounted (this module imports it lazily).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ._client_mounts import HttpxClient, cookie_header, find_mount, library_of, store_cookies

__all__ = ["session_transaction"]


@contextmanager
def session_transaction(
    client: HttpxClient, *, mount: str | None = None, **request_options: Any
) -> Iterator[Any]:
    """Read and change the Flask session of `mount`, as the client's next request sends it.

    Like `FlaskClient.session_transaction()`: the session is opened by the app's own
    `session_interface` from the cookies the client would send to the mount, yielded,
    and on a clean exit saved the same way, its `Set-Cookie` taken into the client's
    jar with the app's cookie name, path and domain (replacing the app's earlier one).
    `request_options` go to `app.test_request_context()` (under the mount's URL), as
    Flask's do. `mount=None`: the one Flask app of the client's table.
    """
    target = find_mount(
        client,
        mount,
        framework="Flask",
        is_framework=_is_flask,
        helper="session_transaction",
    )
    app: Any = target.app
    context = app.test_request_context(
        base_url=str(target.url(client)).rstrip("/"), **request_options
    )
    url: httpx.URL = library_of(client).URL(context.request.url)
    context.request.environ["HTTP_COOKIE"] = cookie_header(client, url)
    with context:
        session = app.session_interface.open_session(app, context.request)
    if session is None:
        raise RuntimeError(
            f"session_transaction: the Flask app at {target.name!r} opened no session "
            "(is its SECRET_KEY set?)"
        )
    yield session
    if app.session_interface.is_null_session(session):
        return
    response = app.response_class()
    with context:
        app.session_interface.save_session(app, session, response)
    store_cookies(client, url, response.headers.getlist("Set-Cookie"))


def _is_flask(app: object) -> bool:
    flask = sys.modules.get("flask")  # not imported: no Flask app can be mounted
    return flask is not None and isinstance(app, flask.Flask)
