"""Views that report what Django sees under a prefix, and touch its database."""

from concurrent.futures import ThreadPoolExecutor

from django.core.signals import request_finished
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Item


def where(request: HttpRequest) -> JsonResponse:
    """Where Django thinks it is: the path it routes on and the URLs it builds."""
    return JsonResponse(
        {
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META.get("SCRIPT_NAME", ""),
            "reverse": reverse("where"),
            "absolute": request.build_absolute_uri(reverse("where")),
        }
    )


def go_to_where(request: HttpRequest) -> HttpResponseBase:
    return redirect("where")


def visits(request: HttpRequest) -> JsonResponse:
    """Counts this session's visits: a session that round-trips counts up."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return JsonResponse({"visits": request.session["visits"]})


def form(request: HttpRequest) -> HttpResponse:
    """A CSRF-protected form: GET hands out the token, POST needs it back."""
    if request.method == "POST":
        return HttpResponse(f"posted {request.POST['name']}")
    return HttpResponse(
        f'<form method="post" action="{reverse("form")}">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{get_token(request)}">'
        '<input name="name"></form>'
    )


def items(request: HttpRequest) -> JsonResponse:
    """The names of every Item, as the view's database connection sees them."""
    return JsonResponse({"names": sorted(Item.objects.values_list("name", flat=True))})


@csrf_exempt  # the database tests post without a form; the matrix tests CSRF on form/
@require_POST
def add_item(request: HttpRequest) -> JsonResponse:
    item = Item.objects.create(name=request.POST["name"])
    return JsonResponse({"id": item.pk})


def request_finished_in_another_thread(request: HttpRequest) -> JsonResponse:
    """Whether `request_finished`, sent by another thread meanwhile, closes its connection."""

    def connection_closed_by_request_finished() -> bool:
        connection.ensure_connection()
        request_finished.send(sender=None)
        return connection.connection is None

    with ThreadPoolExecutor(1) as thread:
        closed = thread.submit(connection_closed_by_request_finished).result()
    return JsonResponse(
        {"other_thread_closed": closed, "mine_open": connection.connection is not None}
    )


urlpatterns = [
    path("where/", where, name="where"),
    path("go/", go_to_where),
    path("visits/", visits),
    path("form/", form, name="form"),
    path("items/", items),
    path("items/add/", add_item),
    path("request-finished-in-another-thread/", request_finished_in_another_thread),
]
