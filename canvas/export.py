"""The canvas as a picture for the team meeting: an SVG image and a PDF, drawn from one layout.

`canvas_drawing` lays the board out once as a list of shapes (rectangles, lines, text) on an A4
landscape page; `svg_render` and `pdf_render` each turn that list into a file. The PDF is written
by hand (PDF 1.4, the standard Helvetica fonts, WinAnsi text), so it needs no library: vector
shapes and text only, which is all the board is.
"""

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from django.utils.translation import gettext as _

from alerts.models import Quadrant

from .selectors import Board, Card

PAGE_WIDTH, PAGE_HEIGHT = 842, 595  # A4 landscape, in points
PLANE_X, PLANE_Y, PLANE_WIDTH, PLANE_HEIGHT = 70, 60, 500, 470
CARD_WIDTH, CARD_HEIGHT = 124, 24
TRAY_X = 600

COLOURS = {
    Quadrant.URGENT_SENSITIVE: (0xB0, 0x2A, 0x37),
    Quadrant.URGENT_ROUTINE: (0xE3, 0x5D, 0x0A),
    Quadrant.LATER_SENSITIVE: (0x6F, 0x42, 0xC1),
    Quadrant.LATER_ROUTINE: (0x19, 0x87, 0x54),
    Quadrant.UNPLACED: (0x6C, 0x75, 0x7D),
}
INK, MUTED, WHITE, RULE = (0x21, 0x25, 0x29), (0x6C, 0x75, 0x7D), (0xFF, 0xFF, 0xFF), (0xAD, 0xB5, 0xBD)

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: Colour | None = None
    stroke: Colour | None = None
    dashed: bool = False


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: Colour = RULE
    width: float = 1
    dashed: bool = False


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float = 8
    bold: bool = False
    colour: Colour = INK
    anchor: str = "start"  # start | end
    vertical: bool = False  # read from bottom to top


def _tint(colour: Colour, share: float = 0.1) -> Colour:
    """The colour mixed into white (the PDF has no transparency here)."""
    return tuple(round(255 - (255 - channel) * share) for channel in colour)


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """An estimate of Helvetica's width, good enough to right-align and to shorten labels."""
    narrow, wide = set("iljtfrI.,:;'!|() "), set("mwMW@%")
    units = sum(0.28 if c in narrow else 0.83 if c in wide else 0.67 if c.isupper() else 0.55 for c in text)
    return units * size * (1.06 if bold else 1)


def _shorten(text: str, width: float, size: float, *, bold: bool = False) -> str:
    if text_width(text, size, bold=bold) <= width:
        return text
    while text and text_width(text + "…", size, bold=bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _point(urgency: int, sensitivity: int) -> tuple[float, float]:
    """Urgency runs left to right, advice-sensitivity bottom to top (y grows downwards on the page),
    over the plane less half a card on each side, so a card at 0 or 100 stays on it."""
    inset_x, inset_y = CARD_WIDTH / 2 + 2, CARD_HEIGHT / 2 + 2
    return (
        PLANE_X + inset_x + (PLANE_WIDTH - 2 * inset_x) * urgency / 100,
        PLANE_Y + inset_y + (PLANE_HEIGHT - 2 * inset_y) * (100 - sensitivity) / 100,
    )


def canvas_drawing(board: Board, *, title: str, before: dict | None = None) -> list:
    """The shapes of the board. `before` (card key → (urgency, sensitivity) or None) adds where
    cards were in another version, with a line to where they are now."""
    shapes: list = [Text(PLANE_X, 32, title, size=14, bold=True)]
    half_w, half_h = PLANE_WIDTH / 2, PLANE_HEIGHT / 2
    quadrants = [
        (Quadrant.LATER_SENSITIVE, PLANE_X, PLANE_Y),
        (Quadrant.URGENT_SENSITIVE, PLANE_X + half_w, PLANE_Y),
        (Quadrant.LATER_ROUTINE, PLANE_X, PLANE_Y + half_h),
        (Quadrant.URGENT_ROUTINE, PLANE_X + half_w, PLANE_Y + half_h),
    ]
    for quadrant, x, y in quadrants:
        shapes.append(Rect(x, y, half_w, half_h, fill=_tint(COLOURS[quadrant])))
        shapes.append(Text(x + 6, y + 14, str(Quadrant(quadrant).label), size=8, bold=True, colour=COLOURS[quadrant]))
    shapes += [
        Rect(PLANE_X, PLANE_Y, PLANE_WIDTH, PLANE_HEIGHT, stroke=RULE),
        Line(PLANE_X + half_w, PLANE_Y, PLANE_X + half_w, PLANE_Y + PLANE_HEIGHT, dashed=True),
        Line(PLANE_X, PLANE_Y + half_h, PLANE_X + PLANE_WIDTH, PLANE_Y + half_h, dashed=True),
        # The axes, with their ends named.
        Line(PLANE_X, PLANE_Y + PLANE_HEIGHT + 12, PLANE_X + PLANE_WIDTH, PLANE_Y + PLANE_HEIGHT + 12, INK),
        Text(PLANE_X, PLANE_Y + PLANE_HEIGHT + 24, _("Not urgent"), colour=MUTED),
        Text(PLANE_X + PLANE_WIDTH, PLANE_Y + PLANE_HEIGHT + 24, _("Urgent"), bold=True, anchor="end"),
        Line(PLANE_X - 12, PLANE_Y, PLANE_X - 12, PLANE_Y + PLANE_HEIGHT, INK),
        Text(PLANE_X - 18, PLANE_Y + PLANE_HEIGHT, _("Not advice-sensitive"), colour=MUTED, vertical=True),
        Text(
            PLANE_X - 18,
            PLANE_Y + text_width(_("Very advice-sensitive"), 8, bold=True),
            _("Very advice-sensitive"),
            bold=True,
            vertical=True,
        ),
    ]
    cards = {card.key: card for card in board.cards}
    for key, position in (before or {}).items():
        card = cards.get(key)
        if card is None or position is None or position == (card.urgency, card.advice_sensitivity):
            continue
        x, y = _point(*position)
        shapes.append(Rect(x - CARD_WIDTH / 2, y - CARD_HEIGHT / 2, CARD_WIDTH, CARD_HEIGHT, stroke=MUTED, dashed=True))
        if card.is_placed:
            shapes.append(Line(x, y, *_point(card.urgency, card.advice_sensitivity), stroke=INK, width=1.2))
    for card in sorted(board.placed, key=lambda card: card.priority):
        shapes += _card_shapes(card, *_point(card.urgency, card.advice_sensitivity))
    shapes.append(Text(TRAY_X, PLANE_Y + 10, _("Not placed yet"), size=10, bold=True))
    y = PLANE_Y + 28
    for card in board.tray:
        if y > PAGE_HEIGHT - 30:
            shapes.append(Text(TRAY_X, y, _("and more…"), colour=MUTED))
            break
        count = _("%(count)s open") % {"count": card.open_count}
        shapes.append(Text(TRAY_X, y, _shorten(_card_title(card), 170, 7.5), size=7.5))
        shapes.append(Text(PAGE_WIDTH - 30, y, count, size=7.5, colour=MUTED, anchor="end"))
        y += 13
    shapes.append(
        Text(
            PLANE_X,
            PAGE_HEIGHT - 12,
            _("Priority = 0.6 · urgency + 0.4 · advice-sensitivity (0–100); 50 or more is urgent or advice-sensitive."),
            size=7,
            colour=MUTED,
        )
    )
    return shapes


def _card_title(card: Card) -> str:
    return card.label if card.label == card.type_name else f"{card.type_name} · {card.label}"


def _card_shapes(card: Card, x: float, y: float) -> list:
    left, top = x - CARD_WIDTH / 2, y - CARD_HEIGHT / 2
    colour = COLOURS[card.quadrant]
    details = _("%(count)s open · priority %(priority)s") % {"count": card.open_count, "priority": card.priority}
    return [
        Rect(left, top, CARD_WIDTH, CARD_HEIGHT, fill=WHITE, stroke=colour),
        Rect(left, top, 3, CARD_HEIGHT, fill=colour),
        Text(left + 7, top + 10, _shorten(_card_title(card), CARD_WIDTH - 10, 6.5, bold=True), size=6.5, bold=True),
        Text(left + 7, top + 19, details, size=6, colour=MUTED),
    ]


# --- SVG ------------------------------------------------------------------------------------------


def _svg_colour(colour: Colour | None) -> str:
    return "none" if colour is None else "#{:02x}{:02x}{:02x}".format(*colour)


def svg_render(shapes: list, *, title: str) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {PAGE_WIDTH} {PAGE_HEIGHT}" '
        f'width="{PAGE_WIDTH}" height="{PAGE_HEIGHT}" role="img" aria-label={quoteattr(title)} '
        'font-family="Helvetica, Arial, sans-serif">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{PAGE_WIDTH}" height="{PAGE_HEIGHT}" fill="#ffffff"/>',
    ]
    for shape in shapes:
        if isinstance(shape, Rect):
            dash = ' stroke-dasharray="3 2"' if shape.dashed else ""
            parts.append(
                f'<rect x="{shape.x:.1f}" y="{shape.y:.1f}" width="{shape.width:.1f}" height="{shape.height:.1f}" '
                f'fill="{_svg_colour(shape.fill)}" stroke="{_svg_colour(shape.stroke)}"{dash}/>'
            )
        elif isinstance(shape, Line):
            dash = ' stroke-dasharray="4 3"' if shape.dashed else ""
            parts.append(
                f'<line x1="{shape.x1:.1f}" y1="{shape.y1:.1f}" x2="{shape.x2:.1f}" y2="{shape.y2:.1f}" '
                f'stroke="{_svg_colour(shape.stroke)}" stroke-width="{shape.width}"{dash}/>'
            )
        else:
            attributes = (
                f'x="{shape.x:.1f}" y="{shape.y:.1f}" font-size="{shape.size}" fill="{_svg_colour(shape.colour)}"'
            )
            if shape.bold:
                attributes += ' font-weight="bold"'
            if shape.anchor == "end":
                attributes += ' text-anchor="end"'
            if shape.vertical:
                attributes += f' transform="rotate(-90 {shape.x:.1f} {shape.y:.1f})"'
            parts.append(f"<text {attributes}>{escape(shape.text)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


# --- PDF ------------------------------------------------------------------------------------------


def _pdf_text(text: str) -> str:
    encoded = text.encode("cp1252", errors="replace").decode("latin-1")
    return "(" + encoded.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def _pdf_rgb(colour: Colour) -> str:
    return " ".join(f"{channel / 255:.3f}" for channel in colour)


def _pdf_content(shapes: list) -> str:
    """PDF drawing operators; the page's origin is bottom left, so every y is flipped."""
    ops = []
    for shape in shapes:
        if isinstance(shape, Rect):
            ops.append("[3 2] 0 d" if shape.dashed else "[] 0 d")
            y = PAGE_HEIGHT - shape.y - shape.height
            if shape.fill is not None:
                ops.append(f"{_pdf_rgb(shape.fill)} rg")
            if shape.stroke is not None:
                ops.append(f"{_pdf_rgb(shape.stroke)} RG 0.8 w")
            paint = "B" if shape.fill and shape.stroke else ("f" if shape.fill else "S")
            ops.append(f"{shape.x:.1f} {y:.1f} {shape.width:.1f} {shape.height:.1f} re {paint}")
        elif isinstance(shape, Line):
            ops.append("[4 3] 0 d" if shape.dashed else "[] 0 d")
            ops.append(
                f"{_pdf_rgb(shape.stroke)} RG {shape.width} w {shape.x1:.1f} {PAGE_HEIGHT - shape.y1:.1f} m "
                f"{shape.x2:.1f} {PAGE_HEIGHT - shape.y2:.1f} l S"
            )
        else:
            x, y = shape.x, PAGE_HEIGHT - shape.y
            if shape.anchor == "end":
                x -= text_width(shape.text, shape.size, bold=shape.bold)
            matrix = f"0 1 -1 0 {x:.1f} {y:.1f}" if shape.vertical else f"1 0 0 1 {x:.1f} {y:.1f}"
            font = "F2" if shape.bold else "F1"
            ops.append(
                f"BT /{font} {shape.size} Tf {_pdf_rgb(shape.colour)} rg {matrix} Tm {_pdf_text(shape.text)} Tj ET"
            )
    return "\n".join(ops)


def pdf_render(shapes: list, *, title: str) -> bytes:
    """A one-page PDF 1.4 of the shapes: five objects, a cross-reference table, no compression."""
    content = _pdf_content(shapes).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Contents 6 0 R "
        "/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        f"<< /Title {_pdf_text(title)} /Producer (Steward) >>".encode("latin-1"),
    ]
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
