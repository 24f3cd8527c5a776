"""The web console's static files, packaged with the Keeper (no CDN, no build step) and served at /ui.

These routes need no token: the page itself holds none. The API token lives in the browser's session
storage and the scripts send it as a bearer token to /v1. Only files in :data:`CONSOLE_DIR` whose names
are on a strict allowlist are served, so no path can reach outside it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParam
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from lambdas.keeper_api.errors import error_response

router = APIGatewayHttpRouter()
CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
ASSET_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(?:html|css|js|svg)$")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from this origin only; no inline script or style, so injected markup cannot run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Short-lived caching: a new Keeper version's console is picked up within a minute, and the browser
# revalidates instead of refetching every module on each page load.
CACHE_CONTROL = "public, max-age=60, must-revalidate"
# HEAD too: uptime checks and caches probe with it (API Gateway drops the body of HEAD answers).
READ_METHODS = ["GET", "HEAD"]
# Documented as needing no bearer token (these routes are not in the OpenAPI document anyway).
NO_TOKEN: list[dict[str, list[str]]] = [{}]


@lru_cache(maxsize=1)
def console_files() -> dict[str, str]:
    """File name to text, read once per process (a Lambda cold start) from the packaged folder."""
    return {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted(CONSOLE_DIR.iterdir())
        if path.is_file() and ASSET_PATTERN.fullmatch(path.name)
    }


def _serve(name: str) -> Response[str]:
    body = console_files().get(name) if ASSET_PATTERN.fullmatch(name) else None
    if body is None:
        return error_response(404, "not_found", f"no console file {name!r}")
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    return Response(200, CONTENT_TYPES[Path(name).suffix], body, headers=headers)


@router.route("/ui", method=READ_METHODS, security=NO_TOKEN, include_in_schema=False)
def console_root() -> Response[str]:
    return Response(308, "text/plain; charset=utf-8", "the console is at /ui/", headers={"Location": "/ui/"})


@router.route("/ui/", method=READ_METHODS, security=NO_TOKEN, include_in_schema=False)
def console_index() -> Response[str]:
    return _serve("index.html")


@router.route("/ui/<asset>", method=READ_METHODS, security=NO_TOKEN, include_in_schema=False)
def console_asset(asset: Annotated[str, PathParam(max_length=80)]) -> Response[str]:
    return _serve(asset)
