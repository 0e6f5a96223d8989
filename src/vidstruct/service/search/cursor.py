"""Keyset pagination: a ``next_token`` carries the last hit's sort key and a fingerprint of the query.

The next page starts strictly after that key in the (total) sort order, which always ends with a unique id,
so equal scores never repeat or skip a hit, and a deep page costs as much as the first. A token given with a
different query, edited, or not made by this API is refused (400).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from vidstruct.service.errors import ServiceError

_BAD = "next_token is not a token this API returned for this query"


@dataclass(frozen=True)
class SortKey:
    """One column of a sort order: the SQL expression, its direction and the Python type of its values."""

    expr: Any
    descending: bool
    kind: type  # float, int, str or datetime

    def order(self) -> Any:
        return self.expr.desc() if self.descending else self.expr.asc()


def fingerprint(params: dict[str, Any]) -> str:
    """A short digest of the query (what a token is bound to)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def encode(query_fp: str, values: Sequence[Any]) -> str:
    """The token of the page after the hit whose sort key is ``values``."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps({"q": query_fp, "k": plain}).encode()).decode().rstrip("=")


def decode(token: str, query_fp: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort key a token carries, checked against the query and the key types (400 otherwise)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, dict) or raw.get("q") != query_fp:
            raise ValueError
        values = raw["k"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
        return [_typed(v, key.kind) for v, key in zip(values, keys)]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError, OverflowError):
        raise ServiceError(_BAD) from None


def _typed(value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**31:  # INTEGER ids
        return value
    if kind is str and isinstance(value, str) and len(value) <= 64:
        return value
    if kind is datetime and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError
        return parsed
    raise ValueError


def after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys`` (k1 beyond v1, or k1 = v1 and k2 beyond v2, ...).

    The redundant bound ``k1 at or beyond v1`` comes first so an index on the first key is read as one range
    (an OR alone makes SQLite scan and sort every row of the label again on each page).
    """
    branches = []
    for i, key in enumerate(keys):
        equal = [k.expr == v for k, v in zip(keys[:i], values[:i])]
        beyond = key.expr < values[i] if key.descending else key.expr > values[i]
        branches.append(and_(*equal, beyond))
    first = keys[0].expr <= values[0] if keys[0].descending else keys[0].expr >= values[0]
    return and_(first, or_(*branches))
