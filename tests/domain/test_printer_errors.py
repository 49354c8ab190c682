"""What a Bambu error code means: HMS codes read into module, unit and level with Bambu Lab's page, the codes
printfleet has words for, and a person's own pause that is no error at all."""

from __future__ import annotations

from printfleet.domain.notifications.printer_alerts import ENGLISH, error_text
from printfleet.domain.printer_errors import HMS_ERRORS, PRINT_ERRORS, hms_link, known_error, read_hms


def test_an_hms_code_reads_as_module_unit_level_and_bambus_page() -> None:
    runout = read_hms("HMS_0701_2000_0002_0003")
    assert runout is not None
    assert (runout.module, runout.unit, runout.severity) == ("AMS", "B", "serious")
    assert runout.link == "https://e.bambulab.com/index.php?e=0701200000020003&s=device_hms&lang=en"
    bed = read_hms("HMS_0300_0100_0001_0007")
    assert bed is not None
    assert (bed.module, bed.unit, bed.severity) == ("printer", None, "fatal")
    external = read_hms("HMS_07FF_2000_0002_0001")
    assert external is not None
    assert external.unit == "external"
    assert read_hms("0300800A") is None
    assert hms_link("03008016") is None  # a print_error has no HMS page


def test_codes_printfleet_knows_have_their_meaning_and_the_rest_their_level_and_module() -> None:
    assert error_text("HMS_0300_1A00_0002_0002") == "The nozzle is clogged."
    assert error_text("0C008042") == "The printer sees possible spaghetti (a failed print): look at it."
    assert error_text("HMS_0300_0D00_0001_0007") == "The build plate is not seated correctly."
    assert error_text("HMS_0702_0100_0002_0002") == (
        "AMS C: the filament is tangled or stuck (the assist motor is overloaded)."
    )
    assert error_text("HMS_1201_8000_0002_0003") == "AMS Lite B slot 3: the filament is tangled or stuck."
    assert error_text("HMS_1800_2000_0002_0001") == "AMS HT A slot 1: the filament has run out. Insert a new spool."
    assert error_text("07038011") == "AMS D: a slot's filament has run out. Refill the same slot."
    # Printfleet has no words for this one: what the code itself says, never a guess.
    assert error_text("HMS_0C00_0300_0002_0099") == "A serious error of the camera (Bambu HMS)."
    assert error_text("HMS_0700_9900_0004_0001") == "A notice of the AMS A (Bambu HMS)."
    assert error_text("0300ABCD") is None


def test_every_known_code_has_an_english_text_and_runouts_are_runouts() -> None:
    for code in [*PRINT_ERRORS, *HMS_ERRORS]:
        known = known_error(code)
        assert known is not None
        assert known.key in ENGLISH, code
    for code in ("03008004", "07FF8011", "07018011", "HMS_07FF_2000_0002_0001", "HMS_1800_2000_0003_0001"):
        known = known_error(code)
        assert known is not None
        assert known.is_runout, code
    tangle = known_error("HMS_0700_0100_0002_0002")
    assert tangle is not None
    assert not tangle.is_runout
