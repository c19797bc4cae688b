"""The billing side of the shop: a Flask app mounted at /flaskr."""

from collections.abc import Iterator

from flask import Flask, Response, redirect, request, session, url_for

app = Flask(__name__)
app.secret_key = "tests-only-not-secret"


@app.get("/")
def index() -> str:
    session["visits"] = session.get("visits", 0) + 1
    return f"<h1>Billing</h1><p>visit {session['visits']}</p>"


@app.post("/login")
def login() -> Response:
    session["user"] = request.form["username"]
    return redirect(url_for("checkout"))


@app.get("/checkout")
def checkout() -> Response | str:
    if "user" not in session:  # sign in on the shop's side first
        return redirect(f"/accounts/login/?next={url_for('checkout')}")
    return f"Checkout for {session['user']}"


@app.get("/back-to-shop")
def back_to_shop() -> Response:
    return redirect("/account/")


@app.route("/whoami", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def whoami() -> dict[str, object]:
    return {
        "method": request.method,
        "remote_addr": request.remote_addr,
        "host": request.host,
        "scheme": request.scheme,
        "root_path": request.root_path,
        "path": request.path,
        "query": request.query_string.decode(),
        "agent": request.headers.get("User-Agent"),
        "custom": request.headers.get("X-Custom"),
        "content_type": request.content_type,
        "form": request.form.to_dict(),
        "json": request.get_json(silent=True),
        "cookies": request.cookies.to_dict(),
    }


@app.post("/echo")
def echo() -> Response:
    return Response(request.get_data(), content_type="application/octet-stream")


@app.get("/cookies")
def cookies() -> Response:
    response = Response("two cookies")
    response.set_cookie("theme", "dark")
    response.set_cookie("currency", "EUR", path="/flaskr", httponly=True)
    response.headers.add("Link", "</a.css>; rel=preload")
    response.headers.add("Link", "</b.js>; rel=preload")
    return response


@app.get("/stream")
def stream() -> Response:
    def lines() -> Iterator[bytes]:
        for n in range(3):
            yield f"line {n}\n".encode()

    return Response(lines(), content_type="text/plain")


@app.get("/nothing")
def nothing() -> Response:
    return Response(status=204)


@app.get("/boom")
def boom() -> str:
    raise KeyError("the billing view failed")
