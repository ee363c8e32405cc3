"""File objects for remote files: ``Stat`` and the adapters behind ``Host.open``."""
from __future__ import annotations

import io
import stat as stat_module
from typing import IO, Any, Callable

__all__ = ["Stat"]


class Stat:
    """What ``listdir_stat`` returns for one directory entry.

    Wraps an ``os.stat_result`` or a paramiko ``SFTPAttributes``.
    """

    def __init__(self, stat_result: Any, filename: str) -> None:
        self._stat_result = stat_result
        self.filename = filename

    @property
    def st_mode(self) -> int:
        """Mode bits (type and permissions)."""
        return int(self._stat_result.st_mode or 0)

    @property
    def st_size(self) -> int:
        """File size in bytes."""
        return int(self._stat_result.st_size or 0)

    @property
    def st_uid(self) -> int:
        """User ID."""
        return int(self._stat_result.st_uid)

    @property
    def st_gid(self) -> int:
        """Group ID."""
        return int(self._stat_result.st_gid)

    @property
    def st_mtime(self) -> float:
        """Modification time (seconds since the epoch)."""
        return float(self._stat_result.st_mtime or 0)

    @property
    def is_dir(self) -> bool:
        """True when this is a directory."""
        return stat_module.S_ISDIR(self.st_mode)

    @property
    def is_file(self) -> bool:
        """True when this is a regular file."""
        return stat_module.S_ISREG(self.st_mode)

    @property
    def is_link(self) -> bool:
        """True when this is a symbolic link (not followed)."""
        return stat_module.S_ISLNK(self.st_mode)

    def __repr__(self) -> str:
        return "Stat(%r, mode=%o, size=%d)" % (self.filename, self.st_mode, self.st_size)


class _FileAdapter(io.RawIOBase):
    """A raw stream around a transport's binary file, with a hook run after close."""

    def __init__(self, f: Any, mode: str, on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._f = f
        self._mode = mode
        self._on_close = on_close

    def readable(self) -> bool:
        return "r" in self._mode or "+" in self._mode

    def writable(self) -> bool:
        return any(c in self._mode for c in "wax+")

    def seekable(self) -> bool:
        return hasattr(self._f, "seek")

    def seek(self, offset: int, whence: int = 0) -> int:
        self._f.seek(offset, whence)
        return self._f.tell()

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._f.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def write(self, data: Any) -> int:
        self._f.write(bytes(data))
        return len(data)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._f.close()
        finally:
            super().close()
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                on_close()


class _LenientWriteMixin:
    # The reference's example writes str to a 'wb' file; accept it (as UTF-8).
    def write(self, data: Any) -> int:  # type: ignore[override]
        if isinstance(data, str):
            data = data.encode("utf-8")
        return super().write(data)  # type: ignore[misc]


class _BinaryWriter(_LenientWriteMixin, io.BufferedWriter):
    pass


class _BinaryRandom(_LenientWriteMixin, io.BufferedRandom):
    pass


def _wrap_file(raw: _FileAdapter, mode: str) -> IO:
    if "+" in mode:
        buffered: Any = _BinaryRandom(raw)
    elif raw.writable():
        buffered = _BinaryWriter(raw)
    else:
        buffered = io.BufferedReader(raw)
    if "b" in mode:
        return buffered
    return io.TextIOWrapper(buffered, encoding="utf-8", newline="")


class _DiscardFile:
    """Where sandboxed writes go."""

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass
