"""The browser tests' fixtures (a customer site, Chromium, a page, a collector wired into the site)."""

from tests.js.conftest import browser, context, ff, page, playwright, site

__all__ = ["browser", "context", "ff", "page", "playwright", "site"]
