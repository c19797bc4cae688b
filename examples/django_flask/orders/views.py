from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.tokens import TOKEN_COOKIE, issue_token
from orders.models import Order


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    """The logged-in customer's orders, and no one else's."""
    orders = Order.objects.filter(customer=request.user)
    return render(request, "orders/order_list.html", {"orders": orders})


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
