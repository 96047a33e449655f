"""One place that removes credentials from any text the project prints, logs or writes.

Model specs and storage URLs may carry secrets (``openai/m@https://user:pw@host/v1``,
``postgresql://u:pw@h/db``, ``...?api_key=sk-...``). Everything written anywhere (MLflow tags and params,
Optuna storage, CSV and JSONL outputs, error messages) goes through :func:`redact` first.

>>> redact("openai/m@https://bob:hunter2@example.com/v1")
'openai/m@https://bob:***@example.com/v1'
>>> redact("postgresql://:pw@db/x and key sk-abcdefghijklmnop")
'postgresql://:***@db/x and key sk-***'
>>> redact("http://host/v1?api_key=abc&x=1")
'http://host/v1?api_key=***&x=1'
>>> redact("failed to connect to bob:hunter2@127.0.0.1:8000")
'failed to connect to bob:***@127.0.0.1:8000'
"""

from __future__ import annotations

import re

# scheme://user:password@  (user may be empty)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@")
# user:password@host without a scheme (as client libraries quote it in connection errors)
_BARE_USERINFO = re.compile(r"(?P<head>(?<![\w/:.-])[A-Za-z0-9._%+\-]+:)[^@\s/:]+@(?=[A-Za-z0-9\[])")
# scheme://token@host  (a bare credential as userinfo, as some proxies use)
_URL_TOKEN = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>sk-[^@/\s]+|[A-Za-z0-9_\-]{32,})@")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:api[_-]?key|key|token|access[_-]?token|password|secret)=)[^&\s]+", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\b(?P<head>sk-)[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?P<head>Bearer\s+)[A-Za-z0-9_\-.=]+", re.IGNORECASE)


def redact(text: object) -> str:
    """``text`` as a string with passwords, tokens and API keys replaced by ``***``."""
    out = str(text)
    out = _URL_PASSWORD.sub(lambda m: m.group("head") + "***@", out)
    out = _BARE_USERINFO.sub(lambda m: m.group("head") + "***@", out)
    out = _URL_TOKEN.sub(lambda m: m.group("head") + "***@", out)
    out = _QUERY_SECRET.sub(lambda m: m.group("head") + "***", out)
    out = _KEY_LIKE.sub(lambda m: m.group("head") + "***", out)
    return _BEARER.sub(lambda m: m.group("head") + "***", out)
