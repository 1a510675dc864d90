"""The one way a URL is shown (health, logs, errors, metrics, the CLI): with its credentials masked.

An upstream URL may carry a secret: ``https://user:password@host/v1`` (userinfo) or a key in its
query string (``?api_key=...``, ``?token=...``, ``?sig=...``).  :func:`redact_url` replaces the
whole userinfo with ``***`` (a bare ``token@host`` is a secret too) and the value of every query
parameter whose name looks secret; scheme, host, port and path stay, so the URL still says where
requests go.  A URL that does not even parse is not echoed at all.

Example:
    >>> redact_url("https://user:s3cret@api.example.com:8443/v1?api_key=abc&model=m")
    'https://***@api.example.com:8443/v1?api_key=***&model=m'
    >>> redact_url("http://127.0.0.1:8000/v1")
    'http://127.0.0.1:8000/v1'
"""

from __future__ import annotations

import re
import urllib.parse

MASK = "***"
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session", re.IGNORECASE)


def _redact_query(query: str) -> str:
    """``a=1&api_key=x`` -> ``a=1&api_key=***`` (the order and encoding of the rest untouched)."""
    pairs = []
    for pair in query.split("&"):
        name, sep, _ = pair.partition("=")
        secret = sep and _SECRET_PARAM.search(urllib.parse.unquote_plus(name))
        pairs.append(f"{name}={MASK}" if secret else pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """``url`` with its userinfo and secret-looking query values replaced by ``***``.

    Example:
        >>> redact_url("http://sk-abc@host/v1"), redact_url("https://h/v1?token=t&sig=s#frag")
        ('http://***@host/v1', 'https://h/v1?token=***&sig=***#frag')
        >>> redact_url("http://[::1/v1")
        '<a URL that does not parse>'
    """
    try:
        parts = urllib.parse.urlsplit(str(url))
    except ValueError:
        return "<a URL that does not parse>"
    netloc = parts.netloc
    if "@" in netloc:  # the last '@' ends the userinfo (a password may contain '@' unescaped)
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = _redact_query(parts.query) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
