"""Rendering the portal's pages: Jinja2 templates and the user's language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from passback.server.i18n import LOCALES, Catalogs, Translator, negotiate

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
LANGUAGE_COOKIE = "passback_lang"
#: A year: the language switch is a preference, not a secret.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600

#: The security headers are the app's (``server/headers.py``); a page varies
#: with the language and the flow's cookie.
PAGE_HEADERS = {"Vary": "Accept-Language, Cookie"}


def environment(directories: Sequence[Path] = (TEMPLATES,)) -> Environment:
    """Templates from ``directories``, the first that has a name winning."""
    return Environment(
        loader=FileSystemLoader(list(directories)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Renderer:
    def __init__(self, catalogs: Catalogs, directories: Sequence[Path] = (TEMPLATES,)) -> None:
        self.catalogs = catalogs
        self.env = environment(directories)

    def translator(self, request: Request) -> Translator:
        """The request's language: the switch (``?lang=``), its cookie, or
        Accept-Language."""
        chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        locale = negotiate(request.headers.get("accept-language"), chosen)
        return Translator.for_locale(self.catalogs, locale)

    def page(
        self,
        request: Request,
        t: Translator,
        name: str,
        context: Mapping[str, Any],
        status: int = 200,
    ) -> HTMLResponse:
        template = self.env.get_template(name)
        html = template.render(
            {
                "_": t.gettext,
                "gettext": t.gettext,
                "ngettext": t.ngettext,
                "lang": t.tag,
                "path": request.url.path,
                "languages": [(tag, _NATIVE_NAMES[loc]) for loc, tag in LOCALES.items()],
                "current_language": t.tag,
                **context,
            }
        )
        response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
        response.headers["Content-Language"] = t.tag
        chosen = request.query_params.get("lang")
        if chosen and t.tag.lower() == chosen.lower():
            response.set_cookie(
                LANGUAGE_COOKIE,
                t.tag,
                max_age=LANGUAGE_COOKIE_AGE,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response


#: Each language's name in itself: the switch must be readable by whoever needs it.
_NATIVE_NAMES = {"en": "English", "pt_BR": "Português (Brasil)"}
