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
