"""Keeping secrets out of what the project writes: logs, errors, API answers, Dagster metadata, the database.

One module so that every writer masks the same things the same way:

* passwords in database URLs, in every form the drivers accept
  (``user:pw@``, ``:pw@``, ``?password=``);
* the values of environment variables named like secrets (``*TOKEN*``,
  ``*API_KEY*``, ``*SECRET*``, ``*PASSWORD*``, ``*_URL``...) wherever they appear
  in a text — a prover's stderr, a driver's message — with, for URLs, their
  password, query string and long path segments (RPC providers put keys there);
* the environment of child processes: the project's own credentials are not
  passed to provers, which never need them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

MASK = "***"
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|_URL$", re.I)
_KEY_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL", re.I)
#: Credentials of this project that no prover child process needs (tools get a copy of the environment
#: without them). A configured ``command`` prover keeps every other variable, its own tokens included.
PROJECT_SECRETS = ("DATABASE_URL", "DAGSTER_PG_URL", "TEST_DATABASE_URL", "ZKP_ATLANTIC_API_KEY",
                   "ZKP_STARKNET_RPC_URL", "ZKP_STARKNET_RPC_BACKUP_URL")


def redact_url_password(text: str) -> str:
    """Every URL password in ``text`` replaced by ``***`` (``user:pw@``, ``:pw@``, ``password=`` parameters)."""
    text = re.sub(r"(://[^:/@\s]*):[^@/\s]*@", rf"\1:{MASK}@", text)
    return re.sub(r"([?&;\s](?:password|passwd|pwd)=)[^&\s;#]*", rf"\1{MASK}", text, flags=re.I)


def _secrets_of(name: str, value: str) -> list[str]:
    found = [value]
    if "://" in value:
        try:
            parts = urlsplit(value)
            found += [s for s in (parts.password, parts.query) if s and len(s) >= 4]
            found += [seg for seg in parts.path.split("/") if len(seg) >= 20]
        except ValueError:
            pass
        if not _KEY_NAME.search(name):
            found.remove(value)  # a plain URL (host, port) may stay readable: only its secrets go
    return found


def public_text(text: str | None, extra_secrets: tuple[str, ...] = (),
                environ: Mapping[str, str] | None = None) -> str | None:
    """``text`` fit for a log, an error, a response or a database row."""
    if not text:
        return text
    out = redact_url_password(text)
    secrets = [s for s in extra_secrets if s and len(s) >= 4]
    for name, value in (os.environ if environ is None else environ).items():
        if value and len(value) >= 8 and _SECRET_NAME.search(name):
            secrets += _secrets_of(name, value)
    for secret in sorted(set(secrets), key=len, reverse=True):
        out = out.replace(secret, MASK)
    return out


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a prover child process: this process's, less the project's credentials."""
    return {k: v for k, v in (os.environ if environ is None else environ).items() if k not in PROJECT_SECRETS}
