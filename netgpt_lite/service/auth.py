"""Who may use the service: an optional client key (``Authorization: Bearer <key>``) and the exposure rule.

``serve --api-key-env NAME`` reads the key from environment variable ``NAME`` once, at start; every
request except ``GET /health`` must then carry ``Authorization: Bearer <key>`` or gets HTTP 401.  The
comparison is :func:`hmac.compare_digest` (its time does not depend on where the keys differ), and the
key is never logged, printed or put in a repr.

Listening beyond loopback (``--host 0.0.0.0``) without a key is refused unless the operator says
``--allow-unauthenticated`` (:func:`is_loopback` decides what "this machine only" means).

Example:
    >>> key = BearerKey("s3cret-key")
    >>> key.allows("Bearer s3cret-key"), key.allows("Bearer wrong"), key.allows(None)
    (True, False, False)
    >>> key
    BearerKey(***)
"""

from __future__ import annotations

import hmac
import ipaddress
import os

UNAUTHORIZED = {
    "message": "missing or invalid API key: send 'Authorization: Bearer <key>'",
    "type": "invalid_request_error",
    "code": "invalid_api_key",
}
"""The body's ``error`` of a 401 (the same for a missing and a wrong key: no oracle)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    A host name other than ``localhost`` counts as beyond loopback: it may resolve to any interface.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("example.org")
        (True, True, False, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


class BearerKey:
    """The client key a service requires (see the module docstring).

    Args:
        key: The secret; at least 1 character, no whitespace (it travels in an HTTP header).
    """

    def __init__(self, key: str) -> None:
        if not key or any(c.isspace() for c in key) or not key.isprintable():
            raise ValueError(
                "the API key must be a non-empty string without whitespace or control characters"
            )
        self._key = key.encode("utf-8")

    @classmethod
    def from_env(cls, name: str) -> BearerKey:
        """The key held by environment variable ``name``; ``ValueError`` naming the variable when unset or empty."""
        value = os.environ.get(name, "")
        if not value:
            raise ValueError(
                f"the environment variable {name} is not set (or is empty): export the client key there"
            )
        try:
            return cls(value)
        except ValueError as err:
            raise ValueError(f"the value of {name} is not usable: {err}") from None

    def allows(self, authorization: str | None) -> bool:
        """Whether an ``Authorization`` header value carries this key (scheme ``Bearer``, any case)."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), self._key)

    def __repr__(self) -> str:
        return "BearerKey(***)"


class KeyGate:
    """ASGI middleware: every HTTP request but ``open_paths`` needs the key, else 401 and the connection closes
    (the body of a refused request is never read).

    Args:
        app: The wrapped ASGI application.
        key: The :class:`BearerKey` to require.
        open_paths: Paths served without a key (``/health``: it shows nothing secret).
        on_refused: Called once per refused request (the service counts it).
    """

    def __init__(
        self, app, key: BearerKey, open_paths: tuple[str, ...] = ("/health",), on_refused=None
    ) -> None:
        self.app, self.key, self.open_paths, self.on_refused = app, key, open_paths, on_refused

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
            if not self.key.allows(given):
                from starlette.responses import JSONResponse

                if self.on_refused is not None:
                    self.on_refused()
                response = JSONResponse(
                    {"error": UNAUTHORIZED},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
