"""JSON in and out. gdw never pickles and never evals: what is not JSON is refused with a clear error."""

from __future__ import annotations

import json
from typing import Any

from gdw_core.errors import InvalidPayload

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any, what: str = "value") -> str:
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not JSON-serialisable: {exc}") from exc


def loads(text: str | bytes, what: str = "payload") -> Any:
    try:
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidPayload(f"{what} is not valid JSON: {exc}") from exc


_PLAIN = frozenset({str, int, bool, type(None)})


def check_args(args: Any, kwargs: Any) -> None:
    """Refuse arguments that would not survive a round trip through JSON storage."""
    if not isinstance(args, (list, tuple)):
        raise InvalidPayload(f"args must be a list or tuple, got {type(args).__name__}")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise InvalidPayload("kwargs must be a dict with str keys")
    plain = _PLAIN
    if all(type(a) in plain for a in args) and all(type(v) in plain for v in kwargs.values()):
        return  # strings, ints, bools and None always encode: skip the trial encoding
    dumps([list(args), kwargs], "task arguments")
