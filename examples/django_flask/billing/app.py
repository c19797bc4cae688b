"""The billing service: a Flask JSON API for the customers the shop logged in."""

from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, g, redirect, request, url_for
from werkzeug.wrappers import Response

from billing.tokens import TOKEN_COOKIE, customer_for


def create_app(shop_login_url: str = "/accounts/login/") -> Flask:
    """A billing service with no invoices yet; customers without a token go to the shop's login."""
    app = Flask(__name__)
    invoices: list[dict[str, Any]] = []

    @app.before_request
    def identify_customer() -> Response | None:
        g.customer = customer_for(request.cookies.get(TOKEN_COOKIE, ""))
        if g.customer is None and request.endpoint is not None:
            # Come back here after logging in: url_for() includes the prefix billing is under.
            here = url_for(request.endpoint, **(request.view_args or {}))
            return redirect(f"{shop_login_url}?{urlencode({'next': here})}")
        return None

    @app.get("/invoices")
    def list_invoices() -> dict[str, Any]:
        mine = [invoice for invoice in invoices if invoice["customer"] == g.customer]
        return {"customer": g.customer, "invoices": mine}

    @app.post("/invoices")
    def create_invoice() -> tuple[dict[str, Any], int, dict[str, str]]:
        body = request.get_json()
        invoice_id = len(invoices) + 1
        invoice = {
            "id": invoice_id,
            "customer": g.customer,
            "order": body["order"],
            "amount_cents": body["amount_cents"],
            "url": url_for("show_invoice", invoice_id=invoice_id),
        }
        invoices.append(invoice)
        return (
            invoice,
            201,
            {"Location": url_for("show_invoice", invoice_id=invoice_id, _external=True)},
        )

    @app.get("/invoices/<int:invoice_id>")
    def show_invoice(invoice_id: int) -> dict[str, Any]:
        for invoice in invoices:
            if invoice["id"] == invoice_id and invoice["customer"] == g.customer:
                return invoice
        abort(404)

    return app
