"""The CSR report laid out: one document (headings, paragraphs, tables, bar series) in the
reader's language and number formats, rendered as Markdown or PDF; CSV keeps raw numbers.

PDF comes from fpdf2: pure Python (no Cairo/Pango system libraries as WeasyPrint needs,
no browser), kept up to date, draws the charts from rectangles, and embeds a Unicode
TrueType font when the system has one (DejaVu Sans on Debian), so French text and
the narrow no-break spaces of French numbers print as they should.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from gateway.i18n import formatting
from gateway.i18n import translate
from gateway.inventory.csr import CsrReport, Totals
from gateway.inventory.usage import Figures
from gateway.inventory.views import View

FONT_CANDIDATES = (
    (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"), Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")),
    (Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
     Path("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf")),
)


@dataclass(slots=True)
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass(slots=True)
class Series:
    """A bar chart: labels, values (None: not shown), the unit and a formatter's labels."""

    title: str
    unit: str
    labels: list[str]
    values: list[float | None]
    shown: list[str]
    lang: str = "en"


@dataclass(slots=True)
class Document:
    title: str
    blocks: list[str | Table | Series] = field(default_factory=list)


def _mass(grams: float, lang: str) -> str:
    if abs(grams) >= 1_000_000:
        return f"{formatting.quantity(grams / 1_000_000, lang)} t"
    if abs(grams) >= 1_000:
        return f"{formatting.quantity(grams / 1_000, lang)} kg"
    return f"{formatting.quantity(grams, lang)} g"


def _energy(wh: float, lang: str) -> str:
    if abs(wh) >= 1_000_000:
        return f"{formatting.quantity(wh / 1_000_000, lang)} MWh"
    if abs(wh) >= 1_000:
        return f"{formatting.quantity(wh / 1_000, lang)} kWh"
    return f"{formatting.quantity(wh, lang)} Wh"


def _water(ml: float, lang: str) -> str:
    if abs(ml) >= 1_000_000:
        return f"{formatting.quantity(ml / 1_000_000, lang)} m³"
    if abs(ml) >= 1_000:
        return f"{formatting.quantity(ml / 1_000, lang)} L"
    return f"{formatting.quantity(ml, lang)} mL"


def _money(micro_eur: int, lang: str) -> str:
    """Euros to the cent, or to three significant digits below a cent (never a misleading 0.00)."""
    if micro_eur == 0 or abs(micro_eur) >= 10_000:
        return formatting.eur(micro_eur, lang)
    return formatting.eur(micro_eur, lang, min(6, formatting.significant_digits(micro_eur / 1_000_000)))


def _period_label(report: CsrReport, lang: str) -> str:
    return report.period if report.annual else formatting.month(report.period, lang)


def document(report: CsrReport, lang: str) -> Document:
    """The report's content in `lang` ('en' or 'fr')."""
    def t(key: str, **params: object) -> str:
        return translate(f"csr.{key}", lang, **params)

    na = t("na")
    doc = Document(t("title_year" if report.annual else "title_month", period=_period_label(report, lang)))
    doc.blocks.append(t("intro", k=report.k))
    totals = report.totals
    if totals is None:
        doc.blocks.append(t("withheld_complementary" if report.totals_withheld == "complementary" else "withheld",
                            k=report.k))
    else:
        doc.blocks.append(_totals_table(totals, t, lang, na))
    doc.blocks.append(_trend_series(report, t, lang))
    doc.blocks.append(_trend_table(report, t, lang, na))
    for dimension, view in (("department", report.by_department), ("use_case", report.by_use_case)):
        doc.blocks.append(_group_table(view, t(f"by_{dimension}"), t(f"col_{dimension}"), t, lang, report.k))
    doc.blocks.append(t("active_users_note"))
    doc.blocks.append(_model_table(report, t, lang))
    doc.blocks.append(t("scope_note"))
    doc.blocks.append(t("scope_lines_note", k=report.k))
    methods = [[m.method, m.factor_set_version, formatting.number(m.requests, lang)] for m in report.methods]
    doc.blocks.append(Table(t("methods"), [t("col_method"), t("col_factor_set"), t("col_requests")],
                            methods or [["—", "—", "0"]]))
    doc.blocks.append(t("methodology", url=report.methodology_url))
    return doc


def _totals_table(totals: Totals, t, lang: str, na: str) -> Table:
    market = _mass(totals.gco2e_market, lang) if totals.gco2e_market is not None else na
    market_note = "" if totals.gco2e_market is not None else t("market_missing", count=formatting.number(
        totals.served_without_market_factor, lang))
    rows = [
        [t("served"), formatting.number(totals.served, lang)],
        [t("refused"), formatting.number(totals.refused, lang)],
        [t("active_users"), formatting.number(totals.users, lang)],
        [t("gco2e_location"), f"{_mass(totals.gco2e, lang)} ({t('range', low=_mass(totals.gwp_g_min, lang), high=_mass(totals.gwp_g_max, lang))})"],
        [t("gco2e_market"), market + (f" ({market_note})" if market_note else "")],
        [t("energy"), f"{_energy(totals.energy_wh, lang)} ({t('range', low=_energy(totals.energy_wh_min, lang), high=_energy(totals.energy_wh_max, lang))})"],
        [t("water"), _water(totals.water_ml, lang)],
        [t("cost"), _money(totals.cost_micro_eur, lang)],
    ]
    return Table(t("totals"), [t("col_metric"), t("col_value")], rows)


def _trend_series(report: CsrReport, t, lang: str) -> Series:
    values = [p.totals.gco2e if p.totals else None for p in report.trend]
    return Series(t("trend_chart"), t("unit_g"), [formatting.month(p.month, lang) for p in report.trend], values,
                  [_mass(v, lang) if v is not None else t("hidden_short") for v in values], lang)


def _trend_table(report: CsrReport, t, lang: str, na: str) -> Table:
    rows = []
    for point in report.trend:
        f = point.totals
        if f is None:
            rows.append([formatting.month(point.month, lang), t("hidden_short"), "", "", "", ""])
            continue
        rows.append([formatting.month(point.month, lang), formatting.number(f.served, lang),
                     formatting.number(f.refused, lang), _mass(f.gco2e, lang),
                     _mass(f.gco2e_market, lang) if f.gco2e_market is not None else na, _energy(f.energy_wh, lang)])
    return Table(t("trend"), [t("col_month"), t("served"), t("refused"), t("gco2e_location"), t("gco2e_market"),
                              t("energy")], rows)


def _ratio(figures: Figures, users: int, lang: str) -> list[str]:
    """Carbon, per served request and per active user (a refusal is not a request that was made)."""
    per_request = _mass(figures.gco2e / figures.served, lang) if figures.served else "—"
    per_user = _mass(figures.gco2e / users, lang) if users else "—"
    return [_mass(figures.gco2e, lang), per_request, per_user]


def _group_table(view: View, title: str, column: str, t, lang: str, k: int) -> Table:
    def line(name: str, f: Figures, users: int) -> list[str]:
        return [name, formatting.number(f.served, lang), formatting.number(f.refused, lang),
                formatting.number(users, lang), *_ratio(f, users, lang), _energy(f.energy_wh, lang),
                _money(f.cost_micro_eur, lang)]

    rows = [line(r.key, r.figures, r.users) for r in view.rows]
    if view.hidden:
        label = t("hidden_groups", count=len(view.hidden))
        if view.remainder is not None:
            rows.append(line(label, view.remainder, view.remainder_users))
        else:
            rows.append([label, t("hidden_k", k=k), "", "", "", "", "", "", ""])
    return Table(title, [column, t("served"), t("refused"), t("active_users"), t("gco2e_location"), t("per_request"),
                         t("per_user"), t("energy"), t("cost")], rows or [["—", "0", "0", "0", "", "", "", "", ""]])


def _model_table(report: CsrReport, t, lang: str) -> Table:
    rows = [[r.key, t(f"scope.{report.scopes.get(r.key, 'unknown')}"), formatting.number(r.figures.served, lang),
             _mass(r.figures.gco2e, lang), _energy(r.figures.energy_wh, lang)] for r in report.by_model.rows]
    if report.by_model.hidden:
        rows.append([t("hidden_groups", count=len(report.by_model.hidden)), "", t("hidden_k", k=report.k), "", ""])
    return Table(t("by_model"), [t("col_model"), t("col_scope"), t("served"), t("gco2e_location"), t("energy")],
                 rows or [["—", "", "0", "", ""]])


def render_markdown(report: CsrReport, lang: str = "en") -> str:
    doc = document(report, lang)
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, str):
            lines += [block, ""]
        elif isinstance(block, Table):
            lines += [f"## {block.title}", "", "| " + " | ".join(block.header) + " |",
                      "|" + "|".join(["---"] + ["---:"] * (len(block.header) - 1)) + "|"]
            lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in block.rows]
            lines.append("")
    return "\n".join(lines)


def render_csv(report: CsrReport) -> str:
    """Machine-readable lines: one per trend month, department, use case and model, in base units."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "key", "ghg_scope", "requests_served", "requests_refused", "requests", "active_users",
                     "gco2e_location_g", "gco2e_location_g_min", "gco2e_location_g_max", "gco2e_market_g",
                     "energy_wh", "water_ml", "cost_eur", "factor_set_versions"])
    versions = ";".join(sorted({m.factor_set_version for m in report.methods}))
    for point in report.trend:
        f = point.totals
        if f is None:
            writer.writerow(["month", point.month, "", "", "", "", "", "", "", "", "", "", "", "", versions])
            continue
        writer.writerow(["month", point.month, "", f.served, f.refused, f.served + f.refused, f.users,
                         f"{f.gco2e:.6f}", f"{f.gwp_g_min:.6f}", f"{f.gwp_g_max:.6f}",
                         "" if f.gco2e_market is None else f"{f.gco2e_market:.6f}", f"{f.energy_wh:.6f}",
                         f"{f.water_ml:.6f}", f"{f.cost_micro_eur / 1_000_000:.6f}", versions])
    for section, view in (("department", report.by_department), ("use_case", report.by_use_case),
                          ("model", report.by_model)):
        for row in view.rows:
            g = row.figures
            scope = report.scopes.get(row.key, "") if section == "model" else ""
            writer.writerow([section, row.key, scope, g.served, g.refused, g.requests, row.users, f"{g.gco2e:.6f}", "", "",
                             "", f"{g.energy_wh:.6f}", f"{g.water_ml:.6f}", f"{g.cost_eur:.6f}", versions])
    return out.getvalue()


def _font_paths() -> tuple[Path, Path] | None:
    return next((pair for pair in FONT_CANDIDATES if pair[0].exists() and pair[1].exists()), None)


def render_pdf(report: CsrReport, lang: str = "en") -> bytes:
    """The report as a PDF (A4), with the 12-month chart drawn as bars."""
    from fpdf import FPDF

    doc = document(report, lang)
    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.set_creator("Sobria")
    font = _font_paths()
    family = "Helvetica"
    if font is not None:
        pdf.add_font("Body", fname=str(font[0]))
        pdf.add_font("Body", style="B", fname=str(font[1]))
        family = "Body"

    def text(value: str) -> str:
        if font is not None:
            return value
        return value.replace("\u202f", " ").replace("\u00a0", " ").replace("€", "EUR").replace("³", "3") \
            .encode("latin-1", "replace").decode("latin-1")

    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.multi_cell(0, 8, text(doc.title))
    pdf.ln(2)
    for block in doc.blocks:
        if isinstance(block, str):
            pdf.set_font(family, size=9)
            pdf.multi_cell(0, 5, text(block))
            pdf.ln(2)
        elif isinstance(block, Table):
            pdf.set_font(family, size=12)
            pdf.multi_cell(0, 7, text(block.title))
            pdf.set_font(family, size=8)
            with pdf.table(text_align="LEFT", first_row_as_headings=True, line_height=4.5) as table:
                for row in [block.header, *block.rows]:
                    cells = table.row()
                    for cell in row:
                        cells.cell(text(cell))
            pdf.ln(3)
        else:
            _bars(pdf, block, family, text)
    return bytes(pdf.output())


def _bars(pdf, series: Series, family: str, text) -> None:
    """A bar chart: y axis with its unit, hidden months drawn as outlined slots marked '?'."""
    pdf.set_font(family, size=12)
    pdf.multi_cell(0, 7, text(series.title))
    left, width, height = pdf.l_margin + 18, pdf.epw - 18, 50
    if pdf.will_page_break(height + 12):
        pdf.add_page()
    top = pdf.get_y() + 4
    bottom = top + height
    peak = max((v for v in series.values if v is not None), default=0.0) or 1.0
    pdf.set_font(family, size=7)
    pdf.text(pdf.l_margin, top - 1, text(series.unit))
    for step in range(5):
        y = bottom - height * step / 4
        pdf.set_draw_color(200, 200, 200)
        pdf.line(left, y, left + width, y)
        pdf.text(pdf.l_margin, y + 1, text(formatting.quantity(peak * step / 4, series.lang)))
    slot = width / max(1, len(series.labels))
    for i, (label, value) in enumerate(zip(series.labels, series.values, strict=True)):
        x = left + i * slot + slot * 0.15
        if value is None:
            pdf.set_draw_color(90, 90, 90)
            pdf.rect(x, top, slot * 0.7, height)
            pdf.text(x + slot * 0.3, top + height / 2, "?")
        elif value > 0:
            pdf.set_fill_color(11, 92, 173)
            bar = height * value / peak
            pdf.rect(x, bottom - bar, slot * 0.7, bar, style="F")
        pdf.text(x, bottom + 4, text(label))
    pdf.set_y(bottom + 8)

