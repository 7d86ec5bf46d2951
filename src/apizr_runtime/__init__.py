"""Runtime of apizr services: a FastAPI app, served by gunicorn, for a module's functions.

The spec dict each function receives is described in the apizr contract; see
``create_app`` (the ASGI app), ``serve`` (run it with gunicorn) and ``load_user_module``
(import the module up front, for gunicorn preload).
"""

from .app import LoadedModule, create_app, load_user_module
from .server import serve

__all__ = ["LoadedModule", "create_app", "load_user_module", "serve"]
