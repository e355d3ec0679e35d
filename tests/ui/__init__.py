"""Browser tests of the /ui pages (Playwright driving Debian's Chromium, axe-core)."""
