"""Headless Chromium from Debian, driven by Playwright, for the e2e walks:
trusting a deployment's server certificate as the test's own (no certificate
error: the browser would refuse passkeys on such a page)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.deployment import Deployment
from tests.support.samba import TIMEOUT_FACTOR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000 * TIMEOUT_FACTOR


@contextlib.contextmanager
def chromium(deployment: Deployment) -> Iterator[Browser]:
    """Chromium trusting ``deployment``'s certificate; skips without Chromium."""
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed (Debian package `chromium`)")
    trust = f"--ignore-certificate-errors-spki-list={deployment.spki_hash()}"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, trust]
        )
        try:
            yield launched
        finally:
            launched.close()


@contextlib.contextmanager
def english_page(browser: Browser, **options: bool) -> Iterator[Page]:
    """A page in a fresh context (``en-US``, the e2e timeout)."""
    context = browser.new_context(ignore_https_errors=True, locale="en-US", **options)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
