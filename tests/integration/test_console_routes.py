"""The console's static files: served at /ui without a token, with strict headers, and nothing else."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lambdas.keeper_api.routes.console import CONSOLE_DIR
from local_pond.lambda_http import LambdaHttpServer, LocalLambdaContext, build_event
from tests.conftest import Api


def get(path: str, method: str = "GET") -> dict[str, Any]:
    """The raw Lambda result for ``GET path`` with no token (the console's files need none)."""
    from lambdas.keeper_api.handler import lambda_handler

    event = build_event(method, path, {"host": "keeper.test"}, b"", "127.0.0.1")
    result: dict[str, Any] = lambda_handler(event, LocalLambdaContext("test"))
    return result


def test_ui_redirects_to_the_console_index() -> None:
    result = get("/ui")
    assert result["statusCode"] == 308
    assert result["headers"]["Location"] == "/ui/"


def test_index_is_html_with_a_strict_content_security_policy() -> None:
    result = get("/ui/")
    headers = result["headers"]
    assert result["statusCode"] == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "max-age" in headers["Cache-Control"]
    assert '<script type="module" src="/ui/app.js">' in result["body"]


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_with_their_content_type(asset: str, content_type: str) -> None:
    result = get(f"/ui/{asset}")
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == content_type
    assert result["body"] == (CONSOLE_DIR / asset).read_text()


def test_every_module_the_pages_import_is_served() -> None:
    """Each ``./x.js`` import and each asset the index names resolves, so no page breaks on a missing file."""
    named = set()
    for path in CONSOLE_DIR.glob("*.js"):
        named |= set(re.findall(r'from "\./([a-z0-9_]+\.js)"|import\("\./([a-z0-9_]+\.js)"\)', path.read_text()))
    files = {name for pair in named for name in pair if name}
    files |= set(re.findall(r'"/ui/([a-z0-9_.]+)"', (CONSOLE_DIR / "index.html").read_text()))
    assert {"app.js", "api.js", "tests.js", "estop.js", "charts.js", "app.css"} <= files
    assert [name for name in sorted(files) if get(f"/ui/{name}")["statusCode"] != 200] == []


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../handler.py",
        "/ui/..%2Fhandler.py",
        "/ui/%2e%2e%2fhandler.py",
        "/ui/handler.py",
        "/ui/.hidden.js",
        "/ui/missing.js",
        "/ui/console/index.html",
        "/ui/index.html%00.js",
    ],
)
def test_only_console_files_are_served(path: str) -> None:
    result = get(path)
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/json"
    assert "def " not in result["body"]


def test_console_routes_stay_out_of_the_openapi_document() -> None:
    document = Api(token=None).get("/openapi.json").body
    assert [path for path in document["paths"] if path.startswith("/ui")] == []


def test_no_console_file_loads_anything_from_another_origin() -> None:
    offenders = [
        path.name
        for path in Path(CONSOLE_DIR).iterdir()
        if re.search(
            r"""(src|href)=["']https?://|import\s*\(?\s*["']https?://|url\(\s*["']?https?://""", path.read_text()
        )
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def keeper_over_http() -> Iterator[str]:
    """The Keeper handler behind the local pond's HTTP adapter, as `koipond keeper` runs it."""
    from lambdas.keeper_api.handler import lambda_handler

    server = LambdaHttpServer("127.0.0.1", 0, lambda_handler, "keeper")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_pond_adapter_passes_html_css_and_js_through_unchanged(keeper_over_http: str) -> None:
    with httpx.Client(base_url=keeper_over_http) as client:
        for name, content_type in (
            ("index.html", "text/html"),
            ("app.css", "text/css"),
            ("charts.js", "text/javascript"),
        ):
            response = client.get(f"/ui/{name}")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(content_type)
            assert response.content == (CONSOLE_DIR / name).read_bytes()
            assert "script-src 'self'" in response.headers["content-security-policy"]


def test_head_answers_without_a_body_and_keep_alive_still_works(keeper_over_http: str) -> None:
    assert get("/ui/", "HEAD")["statusCode"] == 200
    with httpx.Client(base_url=keeper_over_http) as client:
        head = client.head("/ui/app.js")
        assert head.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) == len((CONSOLE_DIR / "app.js").read_bytes())
        after = client.get("/ui/app.css")  # the same connection: a stray HEAD body would corrupt this answer
        assert after.content == (CONSOLE_DIR / "app.css").read_bytes()


def test_the_console_redirect_works_over_http(keeper_over_http: str) -> None:
    response = httpx.get(f"{keeper_over_http}/ui", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/ui/")
