"""Make an RSS/Atom document safe and unambiguous before feedparser sees it.

1. Decode it ourselves: BOM, else the HTTP ``charset``, else the XML declaration, else UTF-8,
   replacing bad bytes and saying how many. Left to itself, feedparser re-decodes a UTF-8
   document with one invalid byte as Windows-1252 (every title garbled, its
   CharacterEncodingOverride easy to miss), and it never saw the HTTP charset at all.
2. Remove the DOCTYPE (with its internal subset) and any ENTITY declaration, so no entity is
   ever expanded. feedparser keeps "safe" internal entities
   (``sanitizer.replace_doctype`` -> ``RE_SAFE_ENTITY_PATTERN``) and re-inserts them for
   expat; when expat refuses the document (its amplification limit), the loose parser
   (``mixin.handle_entityref``) appends the entity's full text for every reference with no
   limit: one 124 KB feed cost 37 s and 2.3 GiB.
3. Named references XML does not define (``&mdash;``, common once the DOCTYPE that declared
   them is gone) become numeric references, unknown ones literal text, and references to
   characters XML forbids (``&#7;``) are dropped, so the strict parser can still read the feed.
4. Remove control characters XML forbids (a raw BEL in a title), and hand feedparser UTF-8
   with a matching declaration.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from dataclasses import dataclass, field

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# UTF-16/32 without a BOM: "<?" in each byte order (XML 1.0 appendix F).
_NUL_PATTERNS = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
_EBCDIC_MARKER = b"\x4c\x6f\xa7\x94"
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_DECL_ENCODING = re.compile(r"^(\s*<\?xml[^>]*?encoding\s*=\s*)([\"'])[^\"']*\2")
_DOCTYPE = re.compile(r"<!DOCTYPE\b(?:[^\[>]*\[.*?\]\s*>|[^>]*>)", re.I | re.S)
_ENTITY_DECL = re.compile(r"<!ENTITY\b[^>]*>", re.I)
# CDATA sections and comments are skipped: "&mdash;" there is text, not a reference.
_REFERENCE = re.compile(
    r"<!\[CDATA\[.*?\]\]>|<!--.*?-->|&(?:#[xX]([0-9a-fA-F]{1,8})|#([0-9]{1,10})|([A-Za-z][\w.-]*));",
    re.S,
)
_XML_NAMED = frozenset({"lt", "gt", "amp", "quot", "apos"})
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class PreparedXml:
    """The document as UTF-8 for feedparser, and what was repaired on the way (for reasons)."""

    data: bytes
    encoding: str
    notes: list[str] = field(default_factory=list)


def _allowed(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _reference(match: re.Match[str]) -> str:
    hex_digits, digits, name = match.groups()
    if hex_digits is None and digits is None and name is None:
        return match.group(0)  # CDATA or comment
    if name is not None:
        if name in _XML_NAMED:
            return match.group(0)
        code = html.entities.name2codepoint.get(name)
        return f"&#{code};" if code is not None else f"&amp;{name};"
    code = int(hex_digits, 16) if hex_digits is not None else int(digits)
    return match.group(0) if _allowed(code) else ""


def _codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def detect_encoding(data: bytes, charset: str | None) -> tuple[str, int, list[str]]:
    """The encoding to read ``data`` with, how many BOM bytes to skip, and any notes."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom), []
    for pattern, name in _NUL_PATTERNS:
        if data.startswith(pattern):
            return name, 0, []
    notes: list[str] = []
    if data.startswith(_EBCDIC_MARKER):  # "<?xm" in EBCDIC: the declaration names the code page
        declared = _declared(data[:512].decode("cp037").encode("ascii", "replace"))
        codec = _codec(declared) if declared else None
        return codec or "cp037", 0, notes
    for declared, where in ((charset, "HTTP charset"), (_declared(data), "XML declaration")):
        if not declared:
            continue
        codec = _codec(declared)
        if codec is None:
            notes.append(f"unknown encoding {declared!r} in the {where}, ignored")
            continue
        if codec.startswith(("utf-16", "utf-32")):
            # No BOM and no NUL pattern, so the bytes are not UTF-16/32 whatever the label says.
            continue
        return codec, 0, notes
    return "utf-8", 0, notes


def _declared(data: bytes) -> str | None:
    match = _XML_DECL.match(data[:512])
    return match.group(1).decode("ascii") if match else None


def prepare_xml(data: bytes, charset: str | None = None) -> PreparedXml:
    """Decode, de-DOCTYPE and clean an XML feed; see the module docstring."""
    encoding, skip, notes = detect_encoding(data, charset)
    body = data[skip:]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        text = body.decode(encoding, errors="replace")
        bad = text.count("\ufffd") - body.decode(encoding, errors="ignore").count("\ufffd")
        label = "UTF-8" if encoding == "utf-8" else encoding
        notes.append(
            f"not valid {label}: {bad} bad byte sequence(s) replaced with U+FFFD "
            f"(the first at byte {exc.start + skip})"
        )
    if "<!" in text:
        stripped = _DOCTYPE.sub("", text, count=1)
        stripped = _ENTITY_DECL.sub("", stripped)
        if len(stripped) != len(text):
            text = stripped
    if "&" in text:
        text = _REFERENCE.sub(_reference, text)
    text = _FORBIDDEN.sub("", text)
    text = _DECL_ENCODING.sub(r"\1\2utf-8\2", text, count=1)
    return PreparedXml(text.encode("utf-8"), encoding, notes)
