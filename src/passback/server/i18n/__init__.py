"""Translations of everything a user reads (SPEC §9): gettext catalogues in
English and Brazilian Portuguese, chosen by Accept-Language or a switch."""

from passback.server.i18n.translations import (
    DEFAULT_LOCALE,
    LOCALES,
    Catalogs,
    Translator,
    load_catalogs,
    negotiate,
)

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Catalogs", "Translator", "load_catalogs", "negotiate"]
