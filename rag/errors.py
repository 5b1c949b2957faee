"""Error classes of the library, each with a stable ``code``.

Callers branch on the class (or its ``code``), never on the message: the HTTP layer maps codes
to statuses in one table, the CLI prints the message as one ``error:`` line.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


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


class CheckUnsupported(StoreError):
    """The store keeps no checksums of its own files (a Milvus server): nothing to verify."""

    code = "check_unsupported"


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


_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_LOW_SPACE = 64 * 1024 * 1024  # bytes free under which an errno-less write failure means "full"


def storage_error(e: OSError, root: Path) -> StorageFull | StorageFailed:
    """An OS error while writing, as a ``StoreError`` that names the path and what to do.

    The store writes a complete new generation before switching to it, so a failed write
    leaves the index as it was; the message says so. numpy reports a short write without an
    errno, so a failure without one on a device that is (nearly) out of space or inodes counts
    as full too.
    """
    where = Path(e.filename) if e.filename else Path(root)
    if e.errno in _FULL or (e.errno is None and _low_on_space(where)):
        return StorageFull(
            f"out of space writing {where} ({e.strerror or e}) on {_disk_of(where)}: free disk space "
            f"or inodes there and retry; the index at {root} is unchanged"
        )
    return StorageFailed(
        f"could not write {where} ({e.strerror or e}): check that the folder exists and is writable, "
        f"then retry; the index at {root} is unchanged"
    )


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _low_on_space(path: Path) -> bool:
    """Whether the disk holding ``path`` (the file that failed, not the index: the cache may be
    on another disk) is (nearly) out of space or inodes."""
    try:
        st = os.statvfs(_existing(path))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _LOW_SPACE or (st.f_files > 0 and st.f_favail == 0)


def _disk_of(path: Path) -> str:
    """The disk that filled, as its mount point and what is left on it: the index and the cache
    folders may be on different disks, and the user must know which one to free."""
    at = _existing(path.absolute())
    mount = at
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    try:
        st = os.statvfs(at)
    except OSError:
        return f"the disk mounted at {mount}"
    return f"the disk mounted at {mount} ({st.f_bavail * st.f_frsize // 1024:,} KiB free)"


class AnswerabilityModelError(IrqaError, ValueError):
    """The answerability model file (``IRQA_ANSWERABILITY``) cannot be read or is for other features."""

    code = "answerability_model"
