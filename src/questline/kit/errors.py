"""One error root. Each error carries the HTTP status the API answers with and, when known, the field at fault."""

from __future__ import annotations


class QuestlineError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": type(self).__name__, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ConfigError(QuestlineError):
    """Settings or configuration documents that cannot be used."""

    status_code = 422


class Invalid(QuestlineError):
    status_code = 422


class NotFound(QuestlineError):
    status_code = 404


class Conflict(QuestlineError):
    status_code = 409


class Unauthorized(QuestlineError):
    status_code = 401


class Forbidden(QuestlineError):
    status_code = 403


class PayloadTooLarge(QuestlineError):
    status_code = 413


class UnsupportedMediaType(QuestlineError):
    status_code = 415
