"""Who is calling `sleeptime serve`: bearer tokens from a file or the environment, checked in constant time.

A token file has one token a line, optionally after an owner name (``alice 3f9c...``); blank lines and
``#`` comments are skipped. ``$SLEEPTIME_SERVE_TOKENS`` holds the same entries separated by commas. The
owner name is what contexts belong to, so a token can be rotated by giving the new one the old name;
without a name the owner is a hash of the token (never the token itself, which is neither stored nor
logged).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

TOKENS_ENV = "SLEEPTIME_SERVE_TOKENS"
MIN_TOKEN_CHARS = 16
OWNER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class TokenError(ValueError):
    """A token file or ``$SLEEPTIME_SERVE_TOKENS`` entry the server cannot use."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class Tokens:
    """The bearer tokens a server accepts, each with the owner its contexts belong to.

    Only sha256 digests of the tokens are kept; :meth:`owner` compares a presented token against every
    one of them with :func:`hmac.compare_digest`, so the time taken tells nothing about which token
    (or how much of one) matched.

    Example:
        >>> tokens = Tokens.parse("alice 0123456789abcdef0123\\n# a comment\\nfedcba9876543210fedc")
        >>> tokens.owner("Bearer 0123456789abcdef0123"), tokens.owner("Bearer wrong") is None
        ('alice', True)
        >>> tokens.owner("Bearer fedcba9876543210fedc").startswith("t")
        True
    """

    entries: tuple[tuple[bytes, str], ...] = ()

    @classmethod
    def parse(cls, text: str, source: str = "the token list") -> Tokens:
        entries: list[tuple[bytes, str]] = []
        for number, raw in enumerate(re.split(r"[\n,]", text), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) > 2:
                raise TokenError(f"entry {number} of {source} has {len(parts)} words; write 'TOKEN' or "
                                 "'OWNER TOKEN'")
            token = parts[-1]
            owner = parts[0] if len(parts) == 2 else "t" + hashlib.sha256(token.encode()).hexdigest()[:16]
            if len(token) < MIN_TOKEN_CHARS:
                raise TokenError(f"entry {number} of {source}: a token needs at least {MIN_TOKEN_CHARS} "
                                 "characters; make one with `python3 -c 'import secrets; "
                                 "print(secrets.token_urlsafe(32))'`")
            if not OWNER_PATTERN.match(owner):
                raise TokenError(f"entry {number} of {source}: owner name {owner!r} must match "
                                 f"{OWNER_PATTERN.pattern}")
            entries.append((_digest(token), owner))
        return cls(tuple(entries))

    @classmethod
    def load(cls, token_file: str | os.PathLike | None = None, environ: dict | None = None) -> Tokens:
        """Tokens from ``token_file`` if given, else from ``$SLEEPTIME_SERVE_TOKENS`` (none: empty)."""
        environ = os.environ if environ is None else environ
        if token_file is not None:
            path = Path(token_file).expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise TokenError(f"cannot read the token file {path} ({exc.strerror}); pass a readable "
                                 "--token-file") from exc
            tokens = cls.parse(text, str(path))
            if not tokens:
                raise TokenError(f"the token file {path} holds no token; put one token a line in it")
            return tokens
        return cls.parse(environ.get(TOKENS_ENV, ""), f"${TOKENS_ENV}")

    def __bool__(self) -> bool:
        return bool(self.entries)

    def owner(self, authorization: str | None) -> str | None:
        """The owner of the token in an ``Authorization: Bearer <token>`` header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        presented = _digest(token.strip())
        found = None
        for digest, owner in self.entries:  # no early exit: every entry is compared
            if hmac.compare_digest(digest, presented) and scheme.lower() == "bearer":
                found = owner
        return found


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
