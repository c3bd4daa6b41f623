"""Inline SVG from run artifacts, made safe first.

An artifact is written by whoever logged the run, and an SVG inlined into a page runs with the
page's origin: a ``<script>``, an ``onload=`` or a ``javascript:`` link would run as the viewer. So
the file is parsed (no DTDs or entities), and only drawing elements and presentation attributes
survive; links may only point inside the document (``#id``). Anything unparseable is refused.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from markupsafe import Markup

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_SVG_BYTES = 4 * 1024 * 1024
# fmt: off
ELEMENTS = {
    "svg", "g", "path", "line", "polyline", "polygon", "rect", "circle", "ellipse", "text", "tspan",
    "title", "desc", "defs", "clipPath", "linearGradient", "radialGradient", "stop", "marker", "use",
    "symbol", "pattern", "mask",
}
# fmt: on
URL = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.IGNORECASE)  # url(...) not pointing at #id
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _clean(element: ET.Element) -> None:
    for child in list(element):
        if not isinstance(child.tag, str) or _local(child.tag) not in ELEMENTS:
            element.remove(child)  # script, foreignObject, style, image, a, animate/set, ...
            continue
        _clean(child)
    for key, value in list(element.attrib.items()):
        name = _local(key).lower()
        lowered = value.strip().lower()
        if (
            name.startswith("on")
            or (name == "href" and not value.strip().startswith("#"))
            or "javascript:" in lowered
            or URL.search(value)
        ):
            del element.attrib[key]


def safe_svg(data: bytes) -> Markup | None:
    """The SVG with only drawing elements left, as markup to inline; None when it is not one."""
    if len(data) > MAX_SVG_BYTES or b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        return None
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if _local(root.tag) != "svg":
        return None
    _clean(root)
    box = root.get("viewBox", "").replace(",", " ").split()
    if "width" not in root.attrib and len(box) == 4:  # its natural size, not the container's width
        root.set("width", box[2])
        root.set("height", box[3])
    return Markup(ET.tostring(root, encoding="unicode"))
