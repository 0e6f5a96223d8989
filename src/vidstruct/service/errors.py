"""Errors of the service a user can cause (a bad request, an unmigrated database), with their HTTP status.

Each is a :class:`~vidstruct.errors.VidstructError`: the CLI prints it in one line (exit 2), the API answers it
as RFC 9457 problem JSON with :attr:`ServiceError.status`.
"""

from __future__ import annotations

from vidstruct.errors import VidstructError


class ServiceError(VidstructError):
    """A request or setting the service refuses; ``status`` is the HTTP status the API answers with."""

    status: int = 400
    title: str = "Bad Request"


class NotMigratedError(ServiceError):
    """The database has no schema yet, or an older one than this version of vidstruct needs."""

    status, title = 503, "Database Not Migrated"


class NotFoundError(ServiceError):
    status, title = 404, "Not Found"


class ConflictError(ServiceError):
    status, title = 409, "Conflict"


class UnprocessableError(ServiceError):
    """A well-formed request whose content is refused (a non-video upload, an unknown feature or profile)."""

    status, title = 422, "Unprocessable Content"


class TooLargeError(ServiceError):
    status, title = 413, "Content Too Large"


class ForbiddenPathError(ServiceError):
    """A server-side path outside every ``--allow-root`` folder (or reached through ``..`` or a symlink)."""

    status, title = 403, "Forbidden"


class InsufficientStorageError(ServiceError):
    """The server's disk is full (507)."""

    status, title = 507, "Insufficient Storage"


class AuthError(ServiceError):
    """No API key, or one that is not valid (401)."""

    status, title = 401, "Unauthorized"


class ScopeError(ServiceError):
    """A valid API key without the scope the request needs (403)."""

    status, title = 403, "Forbidden"


class RateLimitedError(ServiceError):
    """Too many requests with one key (429); ``retry_after``: whole seconds until the next is allowed."""

    status, title = 429, "Too Many Requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
