"""Optional per-app bearer tokens, so an app cannot claim another app's identity (and policy).

The tokens file (`--app-tokens FILE`) maps app ids to sha256 hashes of their tokens, one per line:

    notes  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

`router token new APP --file FILE` makes a token, prints it once and appends its hash. With a tokens
file, every call must carry `authorization: Bearer <token>`; the decision log records the app the token
belongs to. Without one, the daemon trusts the app id in the request (fine on a 0660 socket).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from router.errors import ConfigError, PermissionDenied, Unauthenticated
from router.requests import APP_ID, quote


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "hr_" + secrets.token_urlsafe(32)


class AppTokens:
    def __init__(self, hashes: dict[str, str]) -> None:
        self._by_hash = {h: app for app, h in hashes.items()}

    @classmethod
    def load(cls, path: Path) -> AppTokens:
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise ConfigError(f"cannot read the app tokens file {path}: {e.strerror}") from None
        hashes: dict[str, str] = {}
        for n, line in enumerate(lines, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not APP_ID.match(parts[0]) or len(parts[1]) != 64:
                raise ConfigError(f"{path}:{n}: expected 'APP_ID SHA256HEX'")
            hashes[parts[0]] = parts[1].lower()
        return cls(hashes)

    def authenticate(self, authorization: str | None, claimed_app: str) -> str:
        """The app the token belongs to; raises when the token is missing or wrong, or the request
        claims another app."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("this daemon requires an app token: send 'authorization: Bearer <token>'")
        digest = hash_token(authorization[7:].strip())
        app = None
        for known, name in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                app = name
        if app is None:
            raise Unauthenticated("unknown app token; ask the operator for a token (`router token new APP`)")
        if claimed_app and claimed_app != app:
            raise PermissionDenied(
                f"this token belongs to app {app!r}; it cannot act as {quote(claimed_app)}"
            )
        return app


def add_token(path: Path, app: str) -> str:
    """Create a token for `app`, store its hash in `path`, return the token (shown once)."""
    if not APP_ID.match(app):
        raise ConfigError("app ids are 1-64 letters, digits, '.', '_' or '-'")
    token = new_token()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(f"{app} {hash_token(token)}\n")
    path.chmod(0o600)
    return token
