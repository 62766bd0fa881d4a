"""A failed RPC with its canonical status, raised by the services and sent by the server."""

from __future__ import annotations


class ApiError(Exception):
    """`status` is a canonical gRPC code name (INVALID_ARGUMENT, NOT_FOUND, ...).

    Kept free of grpc so the request logic can be tested and imported without it.
    """

    def __init__(self, status: str, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)
