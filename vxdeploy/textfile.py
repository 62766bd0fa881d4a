"""Reading text files people made with whatever editor or shell they had.

PowerShell's `>` and `Out-File` write UTF-16 with a byte-order mark, Notepad may add a
UTF-8 BOM: both are unambiguous, so they are decoded rather than refused. Anything else
that is not UTF-8 is refused naming the file, the encoding it seems to be and how to fix
it, instead of a UnicodeDecodeError traceback.
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

from vxdeploy.errors import InvalidInputError

# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, name: str, *, what: str = "file") -> str:
    """`data` as text: UTF-8, or any UTF with a byte-order mark; else InvalidInputError."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"{name}: {what} starts with a {encoding.upper()} byte-order mark but is "
                    f"not valid {encoding.upper()} (byte {exc.start})") from exc
    if b"\x00" in data[:200]:
        # NUL bytes decode as UTF-8 but never belong in a text file: BOM-less UTF-16.
        raise InvalidInputError(f"{name}: {what} is not UTF-8{_guess(data)}",
                                hint="save it as UTF-8 (in PowerShell: Out-File -Encoding "
                                "utf8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        guess = _guess(data)
        raise InvalidInputError(
            f"{name}: {what} is not UTF-8{guess} (invalid byte 0x{data[exc.start]:02x} at "
            f"offset {exc.start})",
            hint="save it as UTF-8 (in PowerShell: Out-File -Encoding utf8)") from exc


def _guess(data: bytes) -> str:
    """A hint at what the bytes are: BOM-less UTF-16 shows as every other byte zero."""
    sample = data[:200]
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4:
        return "; it looks like UTF-16 without a byte-order mark"
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return "; it looks like UTF-16 (big-endian) without a byte-order mark"
    if b"\x00" in sample:
        return "; it contains NUL bytes (a binary file?)"
    return "; it looks like a legacy 8-bit encoding (e.g. Windows-1252)"


def read_text(path: Path, *, what: str = "file") -> str:
    """Read `path` as text (see `decode_text`); a missing or unreadable file is bad input."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read {what}: {exc.strerror}") from exc
    return decode_text(data, str(path), what=what)


def read_text_or_stdin(source: str, *, what: str = "file") -> str:
    """`-` reads standard input's bytes (so its encoding is judged the same way)."""
    if source == "-":
        return decode_text(sys.stdin.buffer.read(), "standard input", what=what)
    return read_text(Path(source), what=what)
