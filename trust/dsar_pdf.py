"""The data-subject export as a readable PDF: headed sections, one line per value, as many A4 pages as needed.

Written by hand like the canvas's PDF (canvas/export.py: PDF 1.4, the standard Helvetica fonts,
WinAnsi text), so it needs no library. Long values wrap; nothing is left out that the JSON holds.
"""

import textwrap

from django.utils import formats
from django.utils.translation import gettext as _

from canvas.export import _pdf_text

from .dsar import ClientExport

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 portrait, in points
MARGIN = 50
LINE = 12
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN) // LINE
WRAP = 100  # characters of 9-point Helvetica in the text width


def _lines(export: ClientExport) -> list[tuple[str, str]]:
    """(font, text) lines: F2 bold for headings, F1 for values."""
    lines = [
        ("F2", _("Everything Steward holds about %(name)s") % {"name": export.name}),
        (
            "F1",
            _("Client number %(id)s, made on %(when)s")
            % {"id": export.client_id, "when": formats.date_format(export.generated_at, "DATETIME_FORMAT")},
        ),
        ("F1", ""),
    ]
    for section in export.sections:
        lines.append(("F2", f"{section.title} ({len(section.rows)})"))
        lines.append(("F1", _("What it is: %(category)s") % {"category": section.category}))
        lines.append(("F1", _("What for: %(purposes)s") % {"purposes": ", ".join(section.purposes) or "-"}))
        lines.append(("F1", _("How long: %(retention)s") % {"retention": section.retention}))
        for number, row in enumerate(section.rows, start=1):
            lines.append(("F2", f"  #{number}"))
            for name, value in row.items():
                text = "" if value is None else str(value)
                for index, part in enumerate(textwrap.wrap(f"{name}: {text}", WRAP) or [f"{name}:"]):
                    lines.append(("F1", ("    " if index == 0 else "        ") + part))
        lines.append(("F1", ""))
    return lines


def export_pdf(export: ClientExport) -> bytes:
    lines = _lines(export)
    pages = [lines[start : start + LINES_PER_PAGE] for start in range(0, len(lines), LINES_PER_PAGE)] or [[]]
    first_page = 5  # objects 1-4: catalog, pages, two fonts; then a page and its content per page
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the page numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for index, page in enumerate(pages):
        page_number = first_page + 2 * index
        kids.append(f"{page_number} 0 R")
        ops = []
        for row, (font, text) in enumerate(page):
            y = PAGE_HEIGHT - MARGIN - row * LINE
            ops.append(f"BT /{font} 9 Tf 1 0 0 1 {MARGIN} {y} Tm {_pdf_text(text)} Tj ET")
        footer = _("page %(page)d of %(pages)d") % {"page": index + 1, "pages": len(pages)}
        ops.append(f"BT /F1 8 Tf 1 0 0 1 {MARGIN} {MARGIN // 2} Tm {_pdf_text(footer)} Tj ET")
        content = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Contents {page_number + 1} 0 R "
            "/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    objects.append(f"<< /Title {_pdf_text(export.name)} /Producer (Steward) >>".encode("latin-1"))

    output = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(output)
    output += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    output += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n".encode()
    output += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(output)
