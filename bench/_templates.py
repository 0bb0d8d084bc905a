"""Jinja2 rendering for the report and the site: package templates (``bench/templates/*.j2``), autoescaped.

Every value reaches the page through the template, escaped; a link is rendered only for an http(s) URL
(:func:`http_url`), anything else (``javascript:``, a relative path) is shown as text.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlparse

__all__ = ["render", "http_url"]


def http_url(value: Any) -> str | None:
    """``value`` if it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str):
        return None
    parsed = urlparse(value.strip())
    return value.strip() if parsed.scheme in ("http", "https") and parsed.netloc else None


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("bench", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["http_url"] = http_url
    return env


def render(template: str, **context: Any) -> str:
    """The named template (e.g. ``"board.html.j2"``) rendered with ``context``."""
    return _environment().get_template(template).render(**context)
