"""Stateless user tokens, ``xoxp-<workspace>-<user index>-<hmac>``: valid across restarts with the same secret."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from koipond import workspace as ws

TOKEN_PREFIX = "xoxp-"  # noqa: S105 (Slack's user-token prefix, not a secret)
# The Keeper's workspace pattern (koipond/api/schemas.py): a test's workspace always fits.
WORKSPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# User ids are ``U`` and eight digits (koipond.workspace.user_id), so indexes stay below 10**8.
MAX_USERS = 100_000_000
SIGNATURE_HEX_CHARS = 32


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token speaks for: user ``index`` of ``workspace``."""

    workspace: str
    index: int

    @property
    def user_id(self) -> str:
        return ws.user_id(self.index)


class TokenAuthority:
    """Mints and verifies user tokens with one HMAC secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the token secret must not be empty")
        self._key = secret.encode()

    def signature(self, workspace: str, index: int) -> str:
        digest = hmac.new(self._key, f"{workspace}:{index}".encode(), hashlib.sha256).hexdigest()
        return digest[:SIGNATURE_HEX_CHARS]

    def mint(self, workspace: str, index: int) -> str:
        """The token of user ``index`` of ``workspace``.

        Raises:
            ValueError: the workspace does not match :data:`WORKSPACE_PATTERN` or the index is out of range.
        """
        if not WORKSPACE_PATTERN.match(workspace):
            raise ValueError(f"not a workspace id: {workspace!r}")
        if not 0 <= index < MAX_USERS:
            raise ValueError(f"user index out of range [0, {MAX_USERS}): {index}")
        return f"{TOKEN_PREFIX}{workspace}-{index}-{self.signature(workspace, index)}"

    def verify(self, token: str) -> Identity | None:
        """Who ``token`` speaks for, or None when it is malformed or not signed with this secret."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        parts = token[len(TOKEN_PREFIX) :].rsplit("-", 2)
        if len(parts) != 3:
            return None
        workspace, index_text, signature = parts
        # Only the canonical spelling of an index is valid, so each user has exactly one token.
        if not index_text.isdecimal() or not index_text.isascii() or str(int(index_text)) != index_text:
            return None
        index = int(index_text)
        if not WORKSPACE_PATTERN.match(workspace) or index >= MAX_USERS:
            return None
        if not hmac.compare_digest(signature.encode(), self.signature(workspace, index).encode()):
            return None
        return Identity(workspace, index)
