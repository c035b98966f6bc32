"""Keeping the API key and the endpoint's credentials out of everything shown or saved.

Two kinds of redaction:

- exact values: the API key, and the user:password and secret-looking query
  values of the base URL, wherever they appear (a 401 body that echoes the
  Authorization header, an error that quotes the URL, a file the model read).
  Values shorter than :data:`MIN_SECRET_CHARS` are left alone: they would
  match ordinary words, and no real key is that short;
- patterns, for text kimitui writes itself (errors, notices) and for exports:
  any URL's userinfo, secret-looking query parameters and ``Bearer`` tokens.

The Agent redacts every event it emits, so the transcript, headless output and
the TUI all get the redacted text; the transcript writer also redacts each line
(messages included) before it reaches the disk.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from kimitui.core import events as ev

MASK = "***"
MIN_SECRET_CHARS = 8
_SECRET_NAME = r"[\w.-]*(?:key|token|secret|passw|pwd|auth|sig|credential|session)[\w.-]*"
# scheme://userinfo@ : the userinfo goes, whatever it holds (a token alone is common).
_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@\"'\\<>]+@")
_QUERY_SECRET = re.compile(rf"(?i)([?&]{_SECRET_NAME}=)[^&#\s\"'\\<>]+")
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]{6,}")
# An echoed header: "Authorization: sk-...", "authorization": "Basic dXNlcjpw..." and the like.
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:x-api-key|api-key|authorization)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?:bearer|basic|token)\s+)?)[^\s\"',})\]]{6,}"
)
# Events whose text kimitui writes itself: quoted URLs and headers get the patterns too.
_OWN_TEXT = (ev.Notice, ev.Done, ev.RetryScheduled, ev.SessionStarted)


def redact_patterns(text: str) -> str:
    """URL userinfo, secret-looking query values and bearer tokens, masked."""
    if "://" in text:
        text = _USERINFO.sub(rf"\1{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(rf"\1{MASK}", text)
    text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    return _BEARER.sub(rf"\1\2{MASK}", text)


def display_url(url: str) -> str:
    """The endpoint as it may be shown: scheme, host, port and path only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:  # a malformed port, say: show nothing of it rather than guess
        return redact_patterns(url.split("?", 1)[0])
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def url_secrets(url: str) -> list[str]:
    """The credentials a base URL carries: user, password, secret-looking query values."""
    try:
        parts = urlsplit(url)
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
    except ValueError:
        return []
    found = [user, password, parts.username or "", parts.password or ""]
    if user or password:
        # What an HTTP client sends for it (Authorization: Basic ...), which a server may echo.
        found.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    found += [v for k, v in parse_qsl(parts.query) if re.fullmatch(_SECRET_NAME, k, re.I)]
    return found


@dataclass(frozen=True)
class Redactor:
    """Masks a fixed set of secret values, and (where asked) the generic patterns."""

    values: tuple[str, ...] = ()

    @classmethod
    def for_endpoint(cls, api_key: str, base_url: str) -> Redactor:
        found = {api_key, *url_secrets(base_url)}
        secrets = {s for s in found if len(s) >= MIN_SECRET_CHARS}
        # As they appear inside JSON text too, so a written line can be redacted whole.
        secrets |= {json.dumps(s)[1:-1] for s in secrets}
        # Longest first: a value that contains another is masked whole.
        return cls(tuple(sorted(secrets, key=len, reverse=True)))

    def text(self, text: str, *, patterns: bool = False) -> str:
        for secret in self.values:
            if secret in text:
                text = text.replace(secret, MASK)
        return redact_patterns(text) if patterns else text

    def event(self, event: ev.Event) -> ev.Event:
        """``event`` with every string field (nested ones too) redacted."""
        # A finished run's message is the model's own answer, shown as it was written.
        finished = isinstance(event, ev.Done) and event.reason == "finished"
        patterns = isinstance(event, _OWN_TEXT) and not finished
        if not self.values and not patterns:
            return event
        changes = {}
        for f in fields(event):
            value = getattr(event, f.name)
            new = self._value(value, patterns, 0)
            if new is not value:
                changes[f.name] = new
        return replace(event, **changes) if changes else event

    def _value(self, value: Any, patterns: bool, level: int) -> Any:
        if isinstance(value, str):
            new = self.text(value, patterns=patterns)
            return value if new == value else new
        if level > 64 or not isinstance(value, (dict, list)):
            return value  # deeper than any argument the loop lets through
        if isinstance(value, dict):
            items = {k: self._value(v, patterns, level + 1) for k, v in value.items()}
            changed = any(items[k] is not v for k, v in value.items())
            return items if changed else value
        seq = [self._value(v, patterns, level + 1) for v in value]
        return seq if any(a is not b for a, b in zip(seq, value, strict=True)) else value
