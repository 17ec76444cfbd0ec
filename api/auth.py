"""Admin endpoints: a bearer token, checked against the SHA-256 hashes in ``ZKP_ADMIN_TOKEN_SHA256``.

Every write that changes what the deployment does (execute a decision, register a model) is an
admin endpoint. The deployment keeps only hashes of its tokens, so neither the settings nor a
leaked environment lets anyone in. The presented token is hashed and compared with *every*
configured hash through ``hmac.compare_digest`` (no early exit), so the answer's timing says
nothing about which hash, or how much of one, it came close to.

* no hashes configured: **503**, admin is off (nothing could be authorized; not a 403, which would
  blame the caller's token for the deployment's configuration);
* no ``Authorization: Bearer`` header: **401** with ``WWW-Authenticate: Bearer``;
* a token matching no hash: **403**.

Each refusal is logged (method, path, client, reason) and each admission too, naming the matched
hash by its first 8 hex digits; the token itself is never logged nor echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SettingsDep

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, scheme_name="admin token", description=(
    "An admin token: `Authorization: Bearer <token>`. The deployment holds its SHA-256 hex digest in "
    "`ZKP_ADMIN_TOKEN_SHA256` (README, \"Admin\")."))

#: What an admin endpoint may answer besides its own codes (for its ``responses=``).
ADMIN_RESPONSES = {
    401: {"description": "No `Authorization: Bearer` token (`WWW-Authenticate: Bearer`)."},
    403: {"description": "The token matches no hash in `ZKP_ADMIN_TOKEN_SHA256`."},
    503: {"description": "Admin is off: `ZKP_ADMIN_TOKEN_SHA256` is not set (or the settings are unusable)."},
}


def token_matches(token: str, hashes: list[str]) -> str | None:
    """The configured hash ``token`` hashes to, or None; every hash is compared, in constant time."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    found = None
    for configured in hashes:
        if hmac.compare_digest(digest, configured):
            found = configured
    return found


def _refuse(request: Request, status: int, reason: str, headers: dict[str, str] | None = None) -> HTTPException:
    client = request.client.host if request.client else "unknown"
    log.warning("admin %s %s refused (%d) for client %s: %s", request.method, request.url.path, status, client, reason)
    return HTTPException(status, detail=reason, headers=headers)


def require_admin(request: Request, settings: SettingsDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Admit an admin request; returns who it is (``token sha256:<first 8 hex digits of its hash>``)."""
    hashes = settings.admin.token_hashes
    if not hashes:
        raise _refuse(request, 503, "admin endpoints are off: ZKP_ADMIN_TOKEN_SHA256 is not set")
    if credentials is None or not credentials.credentials:
        raise _refuse(request, 401, "an admin token is required: Authorization: Bearer <token>",
                      {"WWW-Authenticate": "Bearer"})
    matched = token_matches(credentials.credentials, hashes)
    if matched is None:
        raise _refuse(request, 403, "the token is not an admin token of this deployment")
    who = f"token sha256:{matched[:8]}"
    log.info("admin %s %s by %s", request.method, request.url.path, who)
    return who


AdminDep = Annotated[str, Depends(require_admin)]
