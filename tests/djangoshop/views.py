"""The shop's views: templates with context, login, a CSRF form, a session cart, messages."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import Product


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html", {"products": Product.objects.all()})


@login_required
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/account.html", {"orders": request.session.get("cart", [])})


def contact(request: HttpRequest) -> HttpResponse:
    """A form behind Django's CSRF check: a message, then back home."""
    if request.method == "POST":
        messages.success(request, f"Thanks, {request.POST['name']}!")
        return redirect("home")
    return render(request, "shop/contact.html")


@require_POST
def add_to_cart(request: HttpRequest, product_id: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=product_id)
    request.session["cart"] = [*request.session.get("cart", []), product.name]
    return redirect("cart")


def cart(request: HttpRequest) -> JsonResponse:
    session = request.session
    return JsonResponse({"cart": session.get("cart", []), "coupon": session.get("coupon")})


def products_api(request: HttpRequest) -> JsonResponse:
    products = [{"name": p.name, "price": str(p.price)} for p in Product.objects.all()]
    return JsonResponse({"products": products})


def to_billing(request: HttpRequest) -> HttpResponse:
    """Checkout happens in the Flask app."""
    return redirect("/flaskr/checkout")


def broken(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("the shop's view failed")
