"""A temperature reading inside every stocked SKU's range, from a sensor with no excursion open,
is not looked at SKU by SKU (`ColdChainMonitor.observe` with `within`): what it gives must be
what looking at every SKU gives, for any ranges and any run of readings."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockflow.coldchain import ColdChainMonitor, common_range
from stockflow.masterdata import Category, Sku
from tests.unit.conftest import at, temperature_reading

BASE = Sku(sku="MILK-1L", gtin="09506000134352", name="Fresh milk", category=Category.CHILLED_FOOD)


def sku(code: str, low: float, high: float) -> Sku:
    return BASE.model_copy(update={"sku": code, "cold_chain_min_c": low, "cold_chain_max_c": high})


def test_common_range_by_hand():
    assert common_range([sku("A", 0, 4), sku("B", -2, 2)]) == (0, 2)
    low, high = common_range([sku("A", 0, 4), sku("B", -20, -15)])
    assert low > high  # no temperature suits both: every reading is looked at SKU by SKU
    assert common_range([]) == (float("-inf"), float("inf"))


ranges = st.lists(
    st.tuples(st.integers(-25, 8), st.integers(1, 12)).map(lambda lw: (float(lw[0]), float(lw[0] + lw[1]))),
    min_size=0,
    max_size=5,
)
readings = st.lists(
    st.tuples(st.sampled_from(["T-A", "T-B"]), st.integers(0, 20), st.floats(-40, 30, allow_nan=False)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges=ranges, readings=readings)
def test_a_reading_inside_every_range_changes_what_the_full_look_changes(ranges, readings):
    stocked = tuple((sku(f"S{i}", low, high), (f"L{i}",)) for i, (low, high) in enumerate(ranges))
    within = common_range(s for s, _ in stocked)
    fast, full = ColdChainMonitor(min_duration=at(15) - at(0)), ColdChainMonitor(min_duration=at(15) - at(0))
    minute = 0
    for n, (sensor, step, celsius) in enumerate(readings):
        minute += step
        reading = temperature_reading(f"r{n}", minute, celsius, sensor=sensor, location="S1")
        assert fast.observe(reading, stocked, within) == full.observe(reading, stocked)
        assert fast.snapshot() == full.snapshot()


def test_a_batch_received_between_readings_is_in_the_next_excursion(catalog):
    """The ledger keeps each location's cold-chain stock between readings: a receipt must make it
    look again, so the batch it brought is held by the excursion that follows."""
    from stockflow.processing import StockProcessor
    from tests.unit.conftest import receipt

    def reading(event_id, minutes, celsius):
        return temperature_reading(event_id, minutes, celsius, sensor="T-1", location="S1")

    proc = StockProcessor(catalog, excursion_minutes=15, excursion_holds=True)
    proc.process(receipt(location="S1", qty="1"))
    assert proc.process(reading("t0", 0, 2.0)).movements == ()  # inside 0–4 °C: kept as it is
    proc.process(receipt("r2", location="S1", qty="1", batch="B2"))
    assert proc.process(reading("t1", 1, 8.0)).movements == ()
    held = proc.process(reading("t2", 17, 8.5)).movements
    assert sorted((mv.batch, mv.quarantined_delta) for mv in held) == [("B1", 12), ("B2", 12)]
