"""The embedded AWS's front door: only this pond's SigV4-signed, non-browser requests reach moto.

moto answers anyone, with CORS headers for any origin: a web page open in the developer's browser
could write a ``KEY#`` item and mint itself an admin key. So every request carrying an ``Origin``
(or ``Sec-Fetch-Site``) header, every CORS preflight, and every request not signed with the key pair
the pond generated for this run is refused with 403, and no answer carries CORS headers. As AWS does,
a signed request is good for 15 minutes either side of its ``X-Amz-Date``: a request captured (a log, a
proxy) cannot be replayed later.
"""

from __future__ import annotations

import calendar
import hmac
import io
import ipaddress
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# AWS's own window: a signature older or newer than this is RequestTimeTooSkewed.
MAX_CLOCK_SKEW_SECONDS = 15 * 60
_SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
# Unauthenticated, and says only whether the embedded AWS is provisioned (the pond waits for it).
READY_PATH = "/koipond/ready"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class AwsKeyPair:
    """The one key pair the embedded AWS accepts; the pond hands it to every component it starts."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> AwsKeyPair:
        return cls(f"KOIPOND{secrets.token_hex(8).upper()}", secrets.token_urlsafe(30))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsKeyPair | None:
        """The pair in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, if both are set."""
        key_id, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        return cls(key_id, secret) if key_id and secret else None

    def as_env(self) -> dict[str, str]:
        """The variables boto3 reads its credentials from (before any profile)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address to listen on) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmbeddedAwsGuard:
    """WSGI middleware in front of moto's app: refuses browsers and requests not signed with ``key_pair``."""

    def __init__(self, app: WsgiApp, key_pair: AwsKeyPair, clock: Callable[[], float] = time.time) -> None:
        self._app = app
        self._key_pair = key_pair
        self._clock = clock
        self.provisioned = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == READY_PATH and environ.get("REQUEST_METHOD") == "GET":
            if self.provisioned.is_set():
                return _answer(start_response, "200 OK", {"status": "ready"})
            return _answer(start_response, "503 Service Unavailable", _error("provisioning", "not provisioned yet"))
        refusal = self._refusal(environ)
        if refusal is not None:
            return _answer(start_response, "403 Forbidden", _error(*refusal))

        def without_cors(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            # moto (flask-cors) adds Access-Control-Allow-Origin: * to every answer; no page may read one.
            kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
            return start_response(status, kept, *rest)

        return self._app(environ, without_cors)

    def _refusal(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        # Browsers send Origin on every cross-origin or non-GET request, Sec-Fetch-Site on every request;
        # SDKs send neither.
        if "HTTP_ORIGIN" in environ or "HTTP_SEC_FETCH_SITE" in environ:
            return "browser_request", "requests from web pages are refused"
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return "preflight_refused", "CORS preflight requests are refused"
        match = _AUTHORIZATION.fullmatch(environ.get("HTTP_AUTHORIZATION", "").strip())
        if match is None:
            return "unsigned_request", "only requests signed (SigV4) with this pond's key pair are accepted"
        if not hmac.compare_digest(match["key"].encode(), self._key_pair.access_key_id.encode()):
            return "unknown_access_key", "the request is signed with another access key than this pond's"
        expected = expected_signature(environ, self._key_pair, match)
        if expected is None or not hmac.compare_digest(expected.encode(), match["signature"].encode()):
            return "bad_signature", "the request's signature does not match this pond's key pair"
        # Checked after the signature, so the answer tells nobody without the key anything about the clock.
        signed_at = _signed_at(environ.get("HTTP_X_AMZ_DATE", ""))
        if signed_at is None or abs(self._clock() - signed_at) > MAX_CLOCK_SKEW_SECONDS:
            return "request_time_too_skewed", "the request was signed more than 15 minutes from now (a replay?)"
        return None


def expected_signature(environ: dict[str, Any], key_pair: AwsKeyPair, authorization: re.Match[str]) -> str | None:
    """The SigV4 signature ``key_pair`` gives the request, computed by botocore's own signer (None: unsignable)."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    headers: dict[str, str] = {}
    for name in authorization["signed"].split(";"):
        value = _header(environ, name)
        if value is None:
            return None
        headers[name] = value
    timestamp = headers.get("x-amz-date", "")
    target = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if timestamp[:8] != authorization["date"] or not target.startswith("/"):
        return None
    # The canonical request hashes the body unless the client sent (and signed) its hash as a header.
    body = b"" if "x-amz-content-sha256" in headers else _buffered_body(environ)
    request = AWSRequest(
        method=environ["REQUEST_METHOD"], url=f"http://{headers.get('host', '')}{target}", headers=headers, data=body
    )
    request.context["timestamp"] = timestamp
    service, region = authorization["service"], authorization["region"]
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth  # S3 signs the path as sent, others normalize it
    signer = signer_class(Credentials(key_pair.access_key_id, key_pair.secret_access_key), service, region)
    canonical = signer.canonical_request(request)
    signature: str = signer.signature(signer.string_to_sign(request, canonical), request)
    return signature


def _signed_at(timestamp: str) -> float | None:
    """Unix seconds of a SigV4 ``X-Amz-Date`` (``20261205T071500Z``), None if it is not one."""
    try:
        return calendar.timegm(time.strptime(timestamp, _SIGV4_TIMESTAMP))
    except ValueError:
        return None


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")
    return None if value is None else str(value)


def _buffered_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body: bytes = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": {}}}


def _answer(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
