import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from billing.tokens import TOKEN_COOKIE, issue_token
from orders.models import Order

# Billing answers in milliseconds; a checkout should not hang on a billing that does not.
BILLING_TIMEOUT_SECONDS = 5


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    """The logged-in customer's orders, and no one else's."""
    orders = Order.objects.filter(customer=request.user)
    return render(
        request,
        "orders/order_list.html",
        {"orders": orders, "billing_pages_url": settings.BILLING_PAGES_URL},
    )


@login_required
@require_POST
def checkout(request: HttpRequest, pk: int) -> HttpResponse:
    """Charge one of the customer's orders through the billing service, over HTTP, and
    show the invoice billing made. The shop vouches for its customer with their token."""
    order = get_object_or_404(Order, pk=pk, customer=request.user)
    try:
        answer = requests.post(
            f"{settings.BILLING_URL}/invoices",
            json={"order": order.pk, "amount_cents": order.amount_cents},
            cookies={TOKEN_COOKIE: issue_token(request.user.get_username())},
            timeout=BILLING_TIMEOUT_SECONDS,
        )
    except requests.RequestException:
        answer = None
    if answer is None or answer.status_code != 201:
        return HttpResponse("Billing is unavailable; nothing was charged.", status=502)
    return render(request, "orders/invoice.html", {"order": order, "invoice": answer.json()})


class LoginView(auth_views.LoginView):
    """Django's login, which also hands the customer a token for the billing service."""

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        token = issue_token(form.get_user().get_username())
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Lax")
        return response


class LogoutView(auth_views.LogoutView):
    """Django's logout, which also takes the billing token back."""

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        response.delete_cookie(TOKEN_COOKIE, samesite="Lax")
        return response
