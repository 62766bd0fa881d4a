"""The one paginator of every List call the emulator answers (Vertex REST and Monitoring).

A page token is an opaque offset; the last page has an empty token, because GAPIC pagers
loop until `next_page_token` is empty. Errors are plain `PageError`s: each API turns them
into its own error type (an HTTP JSON error, a gRPC status).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


class PageError(ValueError):
    """A page_size or page_token the caller got wrong; `field` names which."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def page(items: Sequence[T], page_size: int, page_token: str, *, default_size: int,
         max_size: int) -> tuple[list[T], str]:
    """(this page's items, next_page_token)."""
    if page_size < 0:
        raise PageError(f"page_size must be >= 0, got {page_size}.", "page_size")
    size = min(page_size or default_size, max_size)
    start = 0
    if page_token:
        try:
            start = int(base64.urlsafe_b64decode(page_token.encode()).decode().removeprefix("o:"))
        except ValueError as exc:
            raise PageError(f"Invalid page_token {page_token!r}: not a token this server "
                            "issued.", "page_token") from exc
        if start < 0 or start > len(items):
            raise PageError(f"Invalid page_token {page_token!r}: out of range.", "page_token")
    end = start + size
    token = base64.urlsafe_b64encode(f"o:{end}".encode()).decode() if end < len(items) else ""
    return list(items[start:end]), token
