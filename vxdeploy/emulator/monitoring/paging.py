"""Page tokens for List calls: an opaque offset, with an empty token on the last page
(GAPIC pagers loop until next_page_token is empty)."""

from __future__ import annotations

import base64
from typing import TypeVar

from vxdeploy.emulator.monitoring.errors import invalid

T = TypeVar("T")


def page(items: list[T], page_size: int, page_token: str, *, default_size: int,
         max_size: int) -> tuple[list[T], str]:
    """(this page's items, next_page_token)."""
    if page_size < 0:
        raise invalid(f"page_size must be >= 0, got {page_size}")
    size = min(page_size or default_size, max_size)
    offset = 0
    if page_token:
        try:
            offset = int(base64.urlsafe_b64decode(page_token.encode()).decode().removeprefix("o:"))
        except ValueError as exc:
            raise invalid(f"page_token {page_token!r} is not a token this server issued") from exc
        if offset < 0 or offset > len(items):
            raise invalid(f"page_token {page_token!r} is out of range")
    chunk = items[offset : offset + size]
    following = offset + size
    token = (
        base64.urlsafe_b64encode(f"o:{following}".encode()).decode()
        if following < len(items)
        else ""
    )
    return chunk, token
