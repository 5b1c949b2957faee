"""Error classes of the library, each with a stable ``code``.

Callers branch on the class (or its ``code``), never on the message: the HTTP layer maps codes
to statuses in one table, the CLI prints the message as one ``error:`` line.
"""

from __future__ import annotations


class IrqaError(Exception):
    """Base of every error irqa raises on purpose; ``str(e)`` is one user-facing line."""

    code = "error"


class FilingError(IrqaError, ValueError):
    """A file that cannot become a filing (empty, binary, unsupported, corrupt, too large)."""

    code = "invalid_filing"


class NotARecord(FilingError):
    """Readable text, but not a 投资者关系活动记录表 (no header fields, no Q&A)."""

    code = "not_a_filing"


class StoreError(IrqaError, RuntimeError):
    """A problem with the index directory that the user must act on."""

    code = "index_unavailable"


class StorageFull(StoreError):
    """The disk (or its inodes, or a quota) ran out while writing; nothing was committed."""

    code = "storage_full"


class StorageFailed(StoreError):
    """Any other OS error while writing the index or the caches; nothing was committed."""

    code = "storage_error"


class ModelMismatch(StoreError):
    """The index was built with another embedding model family."""

    code = "model_mismatch"


class QuestionError(IrqaError, ValueError):
    """A question the engine refuses."""

    code = "invalid_question"


class EmptyQuestion(QuestionError):
    code = "empty_question"


class QuestionTooLong(QuestionError):
    code = "question_too_long"

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit
