"""Keeping secrets out of logs and run records."""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

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
