"""Keeping secrets out of logs and run records."""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Iterable, Mapping, Optional

MASK = "********"

#: Parameter names whose values are never recorded.
SECRET_NAME = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential",
                         re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True for parameter names like ``password``, ``db_token``, ``api_key``."""
    return bool(SECRET_NAME.search(name))


def mask_params(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``kwargs`` with the values of secret-looking names masked."""
    return {k: (MASK if is_secret_name(k) else v) for k, v in kwargs.items()}


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each (non-empty) secret in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


# Only ``name=value`` / ``name: value`` with a secret-looking name (the value
# may be quoted): ``--password x`` cannot be told apart from a flag and a word.
_ASSIGNMENT = re.compile(
    r"(?P<key>[\w.-]*(?:%s)[\w.-]*)(?P<sep>\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s'\";&|]+)"
    % SECRET_NAME.pattern, re.IGNORECASE)


def mask_secret_assignments(text: str) -> str:
    """Mask the values in ``password=...`` style text.

    >>> mask_secret_assignments("mysql --user=app --password='s3 cret' -e 'select 1'")
    "mysql --user=app --password='********' -e 'select 1'"
    >>> mask_secret_assignments('API_TOKEN: abc123 rest')
    'API_TOKEN: ******** rest'
    """
    def replace(m: re.Match) -> str:
        value = m.group("value")
        quote = value[0] if value[0] in "'\"" else ""
        return m.group("key") + m.group("sep") + quote + MASK + quote

    return _ASSIGNMENT.sub(replace, text)


# Event fields that carry free text (what a user typed or a host printed).
# Ids, slugs, node paths and statuses are left alone.
_TEXT_FIELDS = ("command", "data", "output_tail", "error", "detail", "remote_path", "local_path")


def mask_event(event: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``event`` with every occurrence of each secret masked.

    Text fields, positional ``args`` and ``kwargs`` values are scrubbed; the
    event is returned unchanged when it holds none of the secrets.
    """
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first: no partial leftovers
    if not ordered:
        return event

    def scrub(value: Any) -> Any:
        return mask_text(value, ordered) if isinstance(value, str) else value

    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(event, name, None)
        if isinstance(value, str) and scrub(value) != value:
            changes[name] = scrub(value)
    args = getattr(event, "args", None)
    if isinstance(args, tuple) and any(isinstance(a, str) and scrub(a) != a for a in args):
        changes["args"] = tuple(scrub(a) for a in args)
    kwargs = getattr(event, "kwargs", None)
    if isinstance(kwargs, dict) and any(isinstance(v, str) and scrub(v) != v for v in kwargs.values()):
        changes["kwargs"] = {k: scrub(v) for k, v in kwargs.items()}
    return dataclasses.replace(event, **changes) if changes else event


def secret_values(names_and_values: Iterable[tuple[str, Any]]) -> frozenset[str]:
    """The non-empty string values given for secret-looking parameter names."""
    return frozenset(v for name, v in names_and_values if isinstance(v, str) and v and is_secret_name(name))


class StreamMasker:
    """Masks secrets in a stream of text chunks, also when a secret is split over chunks.

    A chunk's longest tail that could be the start of a secret is held back and
    goes out with the next chunk (or with :meth:`flush` at the end)::

        >>> m = StreamMasker(['hunter2'])
        >>> m.feed('password: hun'), m.feed('ter2 ok'), m.flush()
        ('password: ', '******** ok', '')
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first: a secret that contains another one is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pending = ""

    def feed(self, text: str) -> str:
        """The masked text that can go out now (may be empty)."""
        if not self._secrets:
            return text
        text = mask_text(self._pending + text, self._secrets)
        keep = self._held_back(text)
        self._pending = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def _held_back(self, text: str) -> int:
        longest = 0
        for secret in self._secrets:
            for n in range(min(len(secret) - 1, len(text)), longest, -1):
                if text.endswith(secret[:n]):
                    longest = n
                    break
        return longest

    def flush(self) -> str:
        """What was held back (it turned out not to be a secret)."""
        pending, self._pending = self._pending, ""
        return pending


def stream_masker(secrets: Iterable[str], logger: Optional[Any] = None) -> StreamMasker:
    """A :class:`StreamMasker` for ``secrets`` plus the secrets ``logger`` masks itself."""
    known = getattr(logger, "known_secrets", None)
    return StreamMasker(list(secrets) + list(known() if callable(known) else ()))
