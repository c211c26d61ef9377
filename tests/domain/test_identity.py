from aurum.domain.identity import curve_key, normalise

GERMAN_BASE = ["power", None, "EU", "German", None, "power", "BASE", None]


def test_worked_example_of_the_format_spec():
    assert curve_key(GERMAN_BASE) == (
        "e62ae9cee76bc5d14d234b193f8e4521dd978a465b64e7d9c59e10b1f58c4920"
    )


def test_case_and_whitespace_do_not_matter_but_punctuation_does():
    assert curve_key(["power", "", " eu ", "GERMAN", "", "Power", "base", ""]) == curve_key(
        GERMAN_BASE
    )
    assert normalise("NY ULSD vs NY Harbor ULSD") != normalise("Ny Ulsd vs. Ny Harbor Ulsd")


def test_gas_and_power_of_one_area_and_a_spark_spread_are_distinct():
    gas = curve_key(["gas", None, "EE", "Czech", None, "gas", None, None])
    power = curve_key(["power", None, "EE", "Czech", None, "power", "BASE", None])
    spark = curve_key(["power", None, "EE", "Czech", None, "spark_spread", "BASE", "Czech"])
    assert len({gas, power, spark}) == 3


def test_discriminator_separates_curves_that_differ_only_in_units():
    base = ["power", "PJM", None, "AECO", "DA", "power", "ON_PEAK", "AECO HUB"]
    assert curve_key(base, "CAD/MWh") != curve_key(base, "USD/MWh")
    assert curve_key(base, "CAD/MWh") == curve_key(base, "cad/mwh")
    assert curve_key(base) != curve_key(base, "CAD/MWh")
