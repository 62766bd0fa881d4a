"""Monitoring's List calls page with the emulator's one paginator; its errors become
Monitoring's INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from vxdeploy.emulator.monitoring.errors import invalid
from vxdeploy.emulator.paging import PageError
from vxdeploy.emulator.paging import page as _page

T = TypeVar("T")


def page(items: Sequence[T], page_size: int, page_token: str, *, default_size: int,
         max_size: int) -> tuple[list[T], str]:
    """(this page's items, next_page_token)."""
    try:
        return _page(items, page_size, page_token, default_size=default_size,
                     max_size=max_size)
    except PageError as error:
        raise invalid(str(error)) from error
