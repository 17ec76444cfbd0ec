"""Keeping secrets out of what the project writes: logs, errors, API answers, Dagster metadata, the database.

One module, one set of rules, so that every writer masks the same things the same way:

* **known secrets** — the values of secret settings (``settings.SECRET_VARIABLES``: database URLs,
  RPC node URLs, the Atlantic key, the prover command), of any other variable named like a secret
  (``*TOKEN*``, ``*API_KEY*``, ``*SECRET*``, ``*PASSWORD*``, ``*_URL``...), and whatever the caller
  adds (the URL it fetched, the database URL it connected with): masked wherever they appear. A
  secret URL is shown as :func:`redact_url` shows it, and its parts (password, also percent-decoded;
  query values; key-like path segments) are masked on their own too, since messages quote them apart;
* **shapes of secrets** in any text: URL passwords (``user:pw@``, ``:pw@``), ``password=``, ``key=``,
  ``token=``... parameters in query strings and connection strings, ``"api_key": "..."`` in echoed
  JSON, ``--token X`` style options, and path segments that are provider keys (Alchemy, Infura,
  Blast put them in the node URL's path).

A public identifier (a ``0x`` address, a chain id, a readable path word) is never a key-like
segment, so messages stay useful. The environment of prover child processes is the process's, less
the project's own credentials.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

from zk_pipeline.settings import SECRET_VARIABLES, process_environment

MASK = "***"
#: Variables whose values are secrets by their name (besides the settings' own secret variables).
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|_URL$", re.I)
#: Names of values that are wholly secret (a URL named otherwise keeps its host readable).
_WHOLLY_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE|CREDENTIAL|COMMAND", re.I)
#: Parameter names whose values are secrets, in query strings, connection strings and options.
_SECRET_PARAM = r"password|passwd|pwd|secret|token|access_token|auth|apikey|api_key|api-key|key|signature|sig"
_PARAM_VALUE = re.compile(rf"(?<![\w-])((?:{_SECRET_PARAM})=)[^&\s;#'\"]*", re.I)
_JSON_VALUE = re.compile(rf"""(["'](?:{_SECRET_PARAM})["']\s*:\s*["'])[^"']*""", re.I)
_OPTION_VALUE = re.compile(rf"(--?(?:{_SECRET_PARAM})[ =])(?!{{)[^\s'\"]+", re.I)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@/\s]*@")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>.,:;)\]]", re.I)  # not the prose's punctuation
_HEX = re.compile(r"0x[0-9a-f]+", re.I)
_WORDS = re.compile(r"[a-z]+(?:[-_.][a-z]+)+", re.I)
#: Shorter known secrets are not masked: they would blank out ordinary words.
_MIN_SECRET = 4


def is_key_segment(segment: str) -> bool:
    """A path segment of a credential URL that is its key: long and opaque (not an address, a number
    or hyphenated words)."""
    if len(segment) < 16:
        return False
    return not (_HEX.fullmatch(segment) or segment.isdigit() or _WORDS.fullmatch(segment))


def _looks_like_key(segment: str) -> bool:
    """A path segment of any URL that is a key: opaque, letters and digits mixed (not a time, a word)."""
    return (is_key_segment(segment) and ":" not in segment
            and any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment))


def _mask_key_segments(url: str) -> str:
    head, sep, rest = url.partition("://")
    netloc, slash, rest = rest.partition("/")
    path, query_sep, query = rest.partition("?")
    path = "/".join(MASK if _looks_like_key(s) else s for s in path.split("/"))
    return head + sep + netloc + slash + path + query_sep + query


def redact_url(url: str) -> str:
    """``url`` as a message names it: no credentials, no query values, no key-like path segments."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    netloc = (parts.hostname or "") + (f":{port}" if port is not None else "")
    path = "/".join(MASK if is_key_segment(s) else s for s in parts.path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, "", "")) + (f"?{MASK}" if parts.query else "")


def _mask_shapes(text: str) -> str:
    """The shapes of secrets, in a text whose secrets are not known."""
    text = _URL_PASSWORD.sub(rf"\1:{MASK}@", text)
    text = _PARAM_VALUE.sub(rf"\1{MASK}", text)
    text = _JSON_VALUE.sub(rf"\1{MASK}", text)
    text = _OPTION_VALUE.sub(rf"\1{MASK}", text)
    return _URL.sub(lambda m: _mask_key_segments(m.group(0)), text)


def _parts_of(value: str, wholly: bool) -> list[str]:
    """The pieces of a secret that a message may quote on their own."""
    found = [value] if wholly or "://" not in value else []
    if "://" in value:
        try:
            parts = urlsplit(value)
            found += [parts.password or "", unquote(parts.password or ""), parts.query]
            found += [v for _, v in _query_pairs(parts.query)]
            found += [s for s in parts.path.split("/") if is_key_segment(s)]
        except ValueError:
            found.append(value)
    return [s for s in found if len(s) >= _MIN_SECRET]


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [tuple(p.split("=", 1)) for p in re.split(r"[&;]", query) if "=" in p]  # type: ignore[misc]


def is_secret_variable(name: str) -> bool:
    return name in SECRET_VARIABLES or bool(_SECRET_NAME.search(name))


def known_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values of the environment (the process's by default), with their quotable parts."""
    env = process_environment() if environ is None else environ
    found: list[str] = []
    for name, value in env.items():
        if value and len(value) >= 8 and is_secret_variable(name):
            found += _parts_of(value, wholly=bool(_WHOLLY_SECRET_NAME.search(name)))
    return found


def public_text(text: str | None, extra_secrets: Iterable[str | None] = (),
                environ: Mapping[str, str] | None = None, limit: int | None = None) -> str | None:
    """``text`` fit for a log, an error, a response or a database row.

    ``extra_secrets``: values the caller knows are secret (a URL it fetched, the database URL it
    used, an API key); a URL among them is shown redacted. ``limit``: at most that many characters.
    """
    if not text:
        return text
    out = text
    extra = [s for s in extra_secrets if s]
    for url in sorted((s for s in extra if "://" in s), key=len, reverse=True):
        out = out.replace(url, redact_url(url))
    secrets = known_secrets(environ) + [p for s in extra for p in _parts_of(s, wholly="://" not in s)]
    for secret in sorted(set(secrets), key=len, reverse=True):
        out = out.replace(secret, MASK)
    out = _mask_shapes(out)
    if limit is not None and len(out) > limit:
        out = out[: limit - 1] + "…"
    return out


def child_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a prover child process: this process's, less the project's credentials."""
    env = process_environment() if environ is None else environ
    return {k: v for k, v in env.items() if k not in SECRET_VARIABLES}
