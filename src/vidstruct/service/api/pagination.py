"""Opaque page tokens: ``next_token`` carries the offset of the next page (base64 of a small JSON)."""

from __future__ import annotations

import base64
import binascii
import json

from vidstruct.service.errors import ServiceError


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int:
    """The offset a ``next_token`` stands for (0 without one); 400 for a token this API did not make."""
    if not token:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = value["o"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise ServiceError("next_token is not a token this API returned") from None
    if not isinstance(offset, int) or offset < 0:
        raise ServiceError("next_token is not a token this API returned")
    return offset


def page_token(offset: int, returned: int, limit: int, has_more: bool) -> str | None:
    """The token of the page after one of ``returned`` items from ``offset`` (None on the last page)."""
    return encode_token(offset + returned) if has_more and returned == limit else None
