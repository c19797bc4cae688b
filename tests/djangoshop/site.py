"""The combined site: the shop at /, billing (Flask) at /flaskr, stock (Starlette) on its host."""

from . import flaskr, stock
from .asgi import application

MOUNTS = {"/": application, "/flaskr": flaskr.app, "stock.test": stock.app}
