"""The server-rendered pages of consent capture (Jinja2 templates shipped in the package).

Plain HTML: no JavaScript, no external assets. Every page forbids framing (no clickjacking of the confirm
button), caching and referrers (a confirmation link's token must not leak to other sites).
"""

from collections.abc import Mapping

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_PAGES = Environment(
    loader=PackageLoader("connector.api", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}


def page(
    template: str, status: int = 200, headers: Mapping[str, str] | None = None, **values: object
) -> HTMLResponse:
    """``template`` rendered with ``values``, with the headers every capture page carries."""
    html = _PAGES.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
