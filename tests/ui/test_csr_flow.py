"""The CSR director reads the annual report in the page and downloads it as PDF, in English and French."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.i18n import translate
from tests.ui.browser import at_both_widths, missing, sign_in, ui_key
from tests.ui.conftest import chat

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def csr_key(gateway, keys) -> str:
    """The CSR director's key, once five people have used `analysis` (another test leaves one person
    there, and a use case of fewer than k people withholds the totals the director reads)."""
    for person in range(5):
        key = ui_key(gateway.base_url, gateway.admin_key, f"rse-{person}", "rse")
        assert chat(gateway, key, "analysis").status_code in (200, 403)  # 403: suspended by the committee's test
    return ui_key(gateway.base_url, gateway.admin_key, "dora", "rse", "csr")


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_the_csr_director_downloads_the_annual_pdf(browser, gateway, csr_key, locale, tmp_path):
    if shutil.which("pdftoppm") is None:
        missing("pdftoppm is missing (apt-get install poppler-utils)")
    lang, year = locale[:2], str(datetime.now(UTC).year)
    context = browser.new_context(locale=locale)
    page = context.new_page()
    try:
        sign_in(page, gateway.base_url, csr_key, "/ui/csr")
        page.get_by_label(translate("ui.csr.period", lang)).select_option(year)
        page.get_by_role("button", name=translate("ui.csr.show", lang)).click()
        page.wait_for_load_state()
        title = translate("csr.title_year", lang, period=year)
        assert page.get_by_role("heading", level=1).inner_text() == title
        served = page.get_by_role("table", name=translate("csr.totals", lang)).locator("tbody tr").first
        assert served.locator("th").inner_text() == translate("csr.served", lang)
        assert int(served.locator("td").inner_text().replace("\u202f", "").replace(",", "")) >= 14
        assert at_both_widths(page, f"csr-{lang}") == {390: 0, 1280: 0}
        with page.expect_download() as download:
            page.get_by_role("link", name=translate("ui.csr.pdf", lang)).click()
        pdf = tmp_path / "report.pdf"
        Path(download.value.path()).replace(pdf)
        assert pdf.read_bytes().startswith(b"%PDF-")
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
        assert sorted(tmp_path.glob("page-*.png"))
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert title in text and translate("csr.gco2e_market", lang) in text
    finally:
        context.close()
