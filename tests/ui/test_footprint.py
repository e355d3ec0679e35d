"""Comparisons are shown in the first everyday unit that reads as at least one."""

from __future__ import annotations

from admin_ui.footprint import compare


def readable(gco2e_g: float, energy_wh: float, water_ml: float) -> dict[str, tuple[str, float]]:
    return {c.equivalent.id: c.readable() for c in compare(gco2e_g, energy_wh, water_ml)}


def test_a_small_footprint_reads_in_metres_minutes_and_teaspoons():
    shown = readable(21.8, 5.0, 10.0)
    assert shown["car_km"] == ("ui.equivalent.car_m", 100.0)
    assert shown["laptop_hours"] == ("ui.equivalent.laptop_minutes", 10.0)
    assert shown["water_glasses"] == ("ui.equivalent.water_teaspoons", 2.0)


def test_a_large_footprint_keeps_kilometres_hours_and_glasses():
    shown = readable(2180.0, 90.0, 500.0)
    assert shown["car_km"] == ("ui.equivalent.car_km", 10.0)
    assert shown["laptop_hours"] == ("ui.equivalent.laptop_hours", 3.0)
    assert shown["water_glasses"] == ("ui.equivalent.water_glasses", 2.0)


def test_a_tiny_energy_reads_in_seconds():
    key, amount = readable(0.0, 0.05, 0.0)["laptop_hours"]
    assert key == "ui.equivalent.laptop_seconds" and round(amount, 6) == 6.0
