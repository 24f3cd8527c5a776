"""Where the mint admin token may go: an admin-managed allow-list of origins, compared exactly.

A token job names its target, and the token worker sends the mint admin token to that target's mint
endpoint; without this list an operator could name a listener of their own and receive the secret.
Origins are compared as ``(scheme, host, port)`` after normalising (lower case, IDNA, default ports),
never by prefix, so ``https://mint.example.com.evil.test`` does not pass for ``https://mint.example.com``.
Targets are parsed by httpx, the client that sends the token, so the check and the request read a
URL the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from koipond import envvars
from koipond.errors import ConfigurationError, PermissionDeniedError

_DEFAULT_PORTS = {"http": 80, "https": 443}


class MintOriginNotAllowedError(PermissionDeniedError):
    """A token job's target is not an allowed mint origin (the mint token would leave for it)."""

    code = "mint_origin_not_allowed"


def origin_of(url: str | httpx.URL) -> str:
    """``scheme://host:port`` of an http(s) URL, lower case, with the port always written.

    Raises:
        ValueError: not an absolute http(s) URL, or it carries user info (``user:pass@``).
    """
    # The messages never quote the URL: its user info or query could hold a credential.
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("not a URL") from None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.raw_host:
        raise ValueError("not an http(s) URL with a host")
    if parsed.userinfo:
        # httpx would send it as Basic credentials: a URL with user info is refused, never compared.
        raise ValueError("a mint URL must not carry user info")
    host = parsed.raw_host.decode("ascii").lower()
    port = parsed.port if parsed.port is not None else _DEFAULT_PORTS[scheme]
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _allowed_entry(entry: str) -> str:
    """One list entry as an origin; a path, query or fragment would suggest a prefix match, so none is allowed."""
    parsed = httpx.URL(entry)
    if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
        raise ValueError(f"{entry!r} is not an origin (scheme://host:port only)")
    return origin_of(parsed)


@dataclass(frozen=True)
class MintOrigins:
    """The allow-list, parsed once; a bad entry refuses every check (and says which), it never widens the list."""

    origins: frozenset[str]
    invalid: tuple[int, ...] = ()  # positions (1-based) of bad entries; never their text, which may hold user info

    @classmethod
    def parse(cls, setting: str) -> MintOrigins:
        """From ``KOIPOND_TOKEN_MINT_ORIGINS``: comma-separated origins; blank entries are ignored.

        Never raises: a bad entry must not stop the Keeper (and its emergency stop) from starting.
        """
        origins: set[str] = set()
        invalid: list[int] = []
        for position, entry in enumerate((part.strip() for part in setting.split(",")), start=1):
            if not entry:
                continue
            try:
                origins.add(_allowed_entry(entry))
            except (ValueError, httpx.InvalidURL):
                invalid.append(position)
        return cls(frozenset(origins), tuple(invalid))

    def check(self, target: str | httpx.URL) -> str:
        """The target's origin, when the mint token may be sent there.

        Raises:
            MintOriginNotAllowedError: the target's origin is not on the list (or the list is empty).
            ConfigurationError: an entry of the list is not an origin; nothing passes until it is fixed.
        """
        if self.invalid:
            raise ConfigurationError(
                f"{envvars.TOKEN_MINT_ORIGINS} has entries that are not origins (scheme://host:port, nothing"
                f" more): entry {', '.join(map(str, self.invalid))}; no token is minted until it is fixed"
            )
        try:
            origin = origin_of(target)
        except ValueError as exc:
            raise MintOriginNotAllowedError(f"the target is not an allowed mint URL: {exc}") from None
        if origin not in self.origins:
            raise MintOriginNotAllowedError(
                self._refusal(origin), {"target_origin": origin, "allowed_origins": len(self.origins)}
            )
        return origin

    def _refusal(self, origin: str) -> str:
        if not self.origins:
            return (
                "token minting is disabled: no mint origins are configured (an admin sets"
                f" {envvars.TOKEN_MINT_ORIGINS}); {origin} cannot receive the mint token"
            )
        return (
            f"{origin} is not an allowed mint origin ({len(self.origins)} allowed; an admin adds origins to"
            f" {envvars.TOKEN_MINT_ORIGINS}); the mint token is sent to allowed origins only"
        )
