"""``emostyle app``: the web app (needs the ``app`` extra)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer

from emostyle.cli_common import out, run_guarded
from emostyle.errors import EmostyleError, InputError


def check_address(host: str, port: int) -> None:
    """Raise :class:`InputError` unless the app can listen on ``host:port``."""
    import socket  # here: every command loads this module, only `app` listens

    name = {"": "0.0.0.0", "localhost": "127.0.0.1"}.get(host, host)
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise InputError(f"--host {host}: not a known address") from None
    with socket.socket(family, kind, proto) as s:
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(f"port {port} is in use; choose another with --port") from None
            raise InputError(f"--host {host}: cannot listen there ({exc.strerror})") from None


def app_command(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(
        help="Address to listen on; 0.0.0.0 for other machines (their browsers give the "
             "camera only to https:// pages).")] = "localhost",
    style_model: Annotated[str | None, typer.Option(
        "--style-model", help="Paint with this style model (.onnx, e.g. one made by "
                              "`emostyle add-style`) instead of the bundled one.")] = None,
) -> None:
    """Start the web app: photos, emoji, mood painting, model cards and the live mirror."""

    def body() -> int:
        try:
            import streamlit  # noqa: F401

            from emostyle.app.server import serve
        except ImportError as exc:
            raise EmostyleError(f"the web app needs the app extra: pip install "
                                f"'emostyle[app]' ({exc})") from None
        check_address(host, port)
        if style_model is not None:
            import os

            from emostyle.app.engine import STYLE_MODEL_ENV
            from emostyle.stylizer import Stylizer

            Stylizer(style_model, styles_toml=False)  # a bad file: one clear error, now
            os.environ[STYLE_MODEL_ENV] = str(Path(style_model).resolve())
        shown = "localhost" if host in ("0.0.0.0", "::", "") else host
        out.print(f"emostyle app on http://{shown}:{port}  (live mirror: "
                  f"http://{shown}:{port}/mirror); Ctrl+C stops it", markup=False)
        serve(port, host)
        return 0

    run_guarded(body)
