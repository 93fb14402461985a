"""JSON in and out. gdw never pickles and never evals: what is not JSON is refused with a clear error.

This is where the validation boundary meets the bytes: :func:`dumps` and :func:`loads` turn every
way a value can be unusable (not JSON, invalid UTF-8, nested past the interpreter's stack, too big
or too deep for :class:`~gdw_core.limits.PayloadLimits`) into :class:`InvalidPayload` with a
reason. No ``RecursionError`` ever leaves them."""

from __future__ import annotations

import json
from typing import Any

from gdw_core.errors import InvalidPayload
from gdw_core.limits import DEFAULT_LIMITS, PayloadLimits, check_depth, check_size, depth_of

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any, what: str = "value", limits: PayloadLimits | None = None) -> str:
    """``value`` as compact JSON; with ``limits``, also refused when deeper or bigger than they allow."""
    if limits is not None:
        check_depth(value, what, limits)  # before encoding: a hostile depth costs its size, no recursion
    try:
        text = _encoder.encode(value)
    except RecursionError as exc:
        raise InvalidPayload(f"{what} is nested too deeply to encode as JSON") from exc
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} is not JSON-serialisable: {exc}") from exc
    if limits is not None:
        check_size(text, what, limits)
    return text


def loads(text: str | bytes, what: str = "payload", limits: PayloadLimits | None = None) -> Any:
    """The value of the JSON ``text``. With ``limits`` (readers of stored data), text bigger than
    ``limits.max_bytes`` is refused before it is parsed, and a value deeper than ``max_depth`` after."""
    if limits is not None:
        check_size(text, what, limits)
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise InvalidPayload(f"{what} is nested too deeply to decode") from exc
    except UnicodeDecodeError as exc:
        raise InvalidPayload(f"{what} is not valid UTF-8: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"{what} is not valid JSON: {exc}") from exc
    except (TypeError, ValueError) as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidPayload(f"{what} cannot be decoded: {exc}") from exc
    if limits is not None:
        check_depth(value, what, limits)
    return value


_SMALL_INT = 1 << 63
#: the most bytes one character of a JSON string can take (a control character as ``\u001f``)
_CHAR_BYTES = 6


def _plain_size(values: Any) -> int:
    """An upper bound of the encoded size of ``values`` when each is a str, a small int, a bool
    or None; -1 when one is anything else (then it must be encoded to be measured)."""
    size = 0
    for v in values:
        t = type(v)
        if t is str:
            size += _CHAR_BYTES * len(v) + 3
        elif t is int:
            if not -_SMALL_INT < v < _SMALL_INT:
                return -1
            size += 21
        elif v is None or t is bool:
            size += 6
        else:
            return -1
    return size


def check_args(args: Any, kwargs: Any, limits: PayloadLimits = DEFAULT_LIMITS) -> None:
    """Refuse arguments that would not survive a round trip through JSON storage, or that break
    ``limits`` (encoded size of ``[args, kwargs]``, nesting depth), with :class:`InvalidPayload`."""
    if not isinstance(args, (list, tuple)):
        raise InvalidPayload(f"args must be a list or tuple, got {type(args).__name__}")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise InvalidPayload("kwargs must be a dict with str keys")
    if args or kwargs:
        plain_args = _plain_size(args)
        plain_kwargs = _plain_size(kwargs.values()) if plain_args >= 0 else -1
        if plain_kwargs < 0 or plain_args + plain_kwargs + _plain_size(kwargs) + 8 > limits.max_bytes:
            _check_encoded(args, kwargs, limits)
    # plain strings, small ints, bools and None always encode, within the limits: no trial encoding


def _check_encoded(args: Any, kwargs: dict[str, Any], limits: PayloadLimits) -> None:
    what = "task arguments"
    too_deep = f"{what} are nested more than {limits.max_depth} levels deep"
    try:
        text = _encoder.encode([list(args), kwargs])
    except RecursionError as exc:  # past the interpreter's stack: surely past the limit too
        raise InvalidPayload(too_deep) from exc
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} are not JSON-serialisable: {exc}") from exc
    check_size(text, what, limits)
    # fewer brackets than the limit (counted in C, strings included) cannot nest deeper than it
    if text.count("[") + text.count("{") - 1 <= limits.max_depth:
        return
    if max(depth_of(args, limits.max_depth), depth_of(kwargs, limits.max_depth)) > limits.max_depth:
        raise InvalidPayload(too_deep)
