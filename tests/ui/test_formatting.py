"""Numbers and money in the reader's language; charts and comparisons from data."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gateway.i18n import formatting
from admin_ui.charts import nice_ceiling, stacked_bars
from admin_ui.footprint import compare, equivalents


def test_money_reads_as_each_language_writes_it():
    assert formatting.eur(1_234_560_000, "fr") == "1\u202f234,56\u00a0€"
    assert formatting.eur(1_234_560_000, "en") == "€1,234.56"


def test_small_quantities_keep_three_significant_digits():
    assert formatting.quantity(0.012345, "fr") == "0,0123"
    assert formatting.quantity(1234.5, "en") == "1,235"


def test_dates_are_written_in_the_readers_language_and_the_organisations_time_zone():
    assert formatting.day(date(2025, 3, 2), "fr") == "2 mars 2025"
    assert formatting.moment(datetime(2025, 3, 2, 13, 5, tzinfo=UTC), "en") == "2 Mar 2025, 14:05"


def test_chart_scale_rounds_up_to_a_readable_value():
    assert [nice_ceiling(v) for v in (0.0, 0.7, 3.2, 18, 501)] == [1.0, 1.0, 5.0, 20.0, 1000.0]


def test_axis_ticks_read_as_round_numbers_in_each_language():
    chart = stacked_bars(["a"], {"x": [0.0]}, lambda v: formatting.quantity(v, "fr"), floor=1.0,
                         axis_label=lambda v: formatting.plain(v, "fr"))
    assert [t.label for t in chart.y_ticks] == ["0", "0,25", "0,5", "0,75", "1"]
    assert [formatting.plain(v, "en") for v in (2500.0, 0.000015, 3.0000000000000004)] == ["2,500", "0.000015", "3"]


def test_stacked_bars_stay_inside_the_plot():
    chart = stacked_bars(["a", "b"], {"x": [1.0, 3.0], "y": [2.0, 0.0]}, str)
    assert len(chart.bars) == 3
    assert min(bar.y for bar in chart.bars) >= 0 and max(bar.y + bar.height for bar in chart.bars) <= chart.plot_bottom + 0.01


def test_a_wait_reads_in_the_largest_unit_that_reads_well():
    assert [formatting.duration(s, "en") for s in (45, 700, 18_000, 86_400, 2_591_506)] == [
        "45\u00a0s", "12\u00a0min", "5\u00a0h", "24\u00a0h", "30\u00a0days"]
    assert formatting.duration(2_591_506, "fr") == "30\u00a0jours" and formatting.duration(172_800, "fr") == "2\u00a0jours"


def test_a_hidden_figure_is_drawn_as_hidden_not_as_zero():
    chart = stacked_bars(["Jun", "Jul"], {"g": [0.0, 2.0]}, str, hidden=[True, False], hidden_title="fewer than 5 people")
    [slot] = chart.hidden
    assert slot.title == "Jun · fewer than 5 people" and slot.height == chart.plot_bottom - 18  # the whole plot
    assert [bar.title for bar in chart.bars] == ["Jul · g: 2.0"]


def test_every_comparison_has_a_named_source():
    assert all(e.source and e.per_unit > 0 for e in equivalents())
    car = next(c for c in compare(218.0, 0.0, 0.0) if c.equivalent.id == "car_km")
    assert car.units == 1.0
