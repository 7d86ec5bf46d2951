"""Running the service: gunicorn with uvicorn workers, configured by the spec and the environment.

Environment variables, read when the service starts, override spec["server"]:

==========================  ==============================================================
``HOST``, ``PORT``          bind address ``$HOST:$PORT`` (HOST defaults to the spec's host)
``WEB_CONCURRENCY``         number of worker processes
``APIZR_TIMEOUT``           seconds a silent worker may take before it is restarted
``APIZR_GRACEFUL_TIMEOUT``  seconds workers get to finish requests after SIGTERM
``APIZR_KEEPALIVE``         seconds an idle keep-alive connection stays open
``APIZR_PRELOAD``           ``1``/``true``: import the module once in the master, then fork
==========================  ==============================================================
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from .app import create_app, load_user_module

logger = logging.getLogger("apizr")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A malformed environment variable."""


def serve(spec: dict[str, Any]) -> None:
    """Serve `spec` until gunicorn stops; SIGTERM stops it gracefully.

    Exits with status 2 and a one-line message if an environment variable is malformed.
    """
    try:
        options = gunicorn_options(spec["server"], os.environ)
    except ConfigError as exc:
        print(f"apizr: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _log_to_stderr()
    _GunicornApplication(spec, options).run()


def gunicorn_options(server: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The gunicorn settings for spec["server"], overridden by the environment variables."""
    host = environ.get("HOST", server["host"])
    port = _int_setting(environ, "PORT", server["port"], minimum=1, maximum=65535)
    return {
        "bind": _bind_address(host, port),
        "workers": _int_setting(environ, "WEB_CONCURRENCY", server["workers"], minimum=1),
        "timeout": _int_setting(environ, "APIZR_TIMEOUT", server["timeout"]),
        "graceful_timeout": _int_setting(
            environ, "APIZR_GRACEFUL_TIMEOUT", server["graceful_timeout"]
        ),
        "keepalive": _int_setting(environ, "APIZR_KEEPALIVE", server["keepalive"]),
        "preload_app": _bool_setting(environ, "APIZR_PRELOAD", server["preload"]),
        "worker_class": "uvicorn_worker.UvicornWorker",
        "accesslog": "-",  # stdout
        "errorlog": "-",  # stderr
        # gunicorn >= 25.1 creates a control socket under $HOME by default, which fails for a
        # non-root user on a read-only filesystem; nothing here uses it.
        "control_socket_disable": True,
    }


def _bind_address(host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"{host}:{port}"


def _int_setting(
    environ: Mapping[str, str],
    name: str,
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    raw = environ.get(name)
    if raw is None:
        return default
    expected = (
        f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    )
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"invalid {name}={raw!r}: expected {expected}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"invalid {name}={raw!r}: expected {expected}")
    return value


def _bool_setting(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"invalid {name}={raw!r}: expected 1, true, 0 or false")


def _log_to_stderr() -> None:
    """Send the "apizr" logger (load failures, endpoint tracebacks) to stderr like gunicorn's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
            "%Y-%m-%d %H:%M:%S %z",
        )
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class _GunicornApplication(BaseApplication):
    def __init__(self, spec: dict[str, Any], options: dict[str, Any]) -> None:
        self.spec = spec
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        # Called in each worker, or once in the master before forking with preload.
        if not self.cfg.preload_app:
            return create_app(self.spec)
        try:
            loaded = load_user_module(self.spec)
        except Exception:
            # Fail fast, like `gunicorn --preload`: no worker could serve anything.
            logger.exception("failed to load module %r", self.spec["module"])
            raise SystemExit(1) from None
        return create_app(self.spec, loaded=loaded)
