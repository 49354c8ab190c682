"""The check a scheduler calls before sending a print: is the material loaded, in the colour, with enough grams?"""

from __future__ import annotations

from printfleet.domain.materials.loaded import MaterialNeed, Shortfall, SlotStock, check_loaded

AMS = [
    SlotStock(slot="AMS0-T0", material="PLA", color="000000FF", grams_left=240.0),
    SlotStock(slot="AMS0-T1", material="PLA", color="FFFFFFFF", grams_left=900.0),
    SlotStock(slot="AMS0-T2", material="PETG", color="FF6A13FF", grams_left=None),  # untagged, never weighed
    SlotStock(slot="AMS0-T3", material=None),  # empty
]


def test_a_black_pla_plate_goes_to_the_black_pla_slot() -> None:
    check = check_loaded(AMS, [MaterialNeed(material="pla", color="#000000", grams=120)])
    assert check.ok
    assert [slot.slot if slot else None for slot in check.slots] == ["AMS0-T0"]


def test_too_little_left_is_not_enough_and_says_which_slot_came_closest() -> None:
    check = check_loaded(AMS, [MaterialNeed(material="PLA", color="000000", grams=300)])
    assert not check.ok
    [missing] = check.missing
    assert (missing.reason, missing.closest and missing.closest.slot) == (Shortfall.NOT_ENOUGH, "AMS0-T0")


def test_two_filaments_of_one_spool_add_up_and_different_needs_take_different_slots() -> None:
    two_blacks = [MaterialNeed(material="PLA", color="000000", grams=150)] * 2
    assert check_loaded(AMS, two_blacks).missing[0].reason is Shortfall.NOT_ENOUGH  # 300 g from a 240 g spool
    any_pla = [MaterialNeed(material="PLA", grams=100), MaterialNeed(material="PLA", color="000000", grams=100)]
    check = check_loaded(AMS, any_pla)
    assert check.ok
    assert [slot.slot for slot in check.slots if slot] == ["AMS0-T1", "AMS0-T0"]


def test_missing_material_wrong_colour_and_unknown_grams() -> None:
    reasons = [
        check_loaded(AMS, [need]).missing[0].reason
        for need in (
            MaterialNeed(material="ABS", grams=10),
            MaterialNeed(material="PLA", color="FF0000", grams=10),
            MaterialNeed(material="PETG", color="FF6A13", grams=10),
        )
    ]
    assert reasons == [Shortfall.NOT_LOADED, Shortfall.WRONG_COLOR, Shortfall.UNKNOWN_AMOUNT]
    assert check_loaded(AMS, [MaterialNeed(material="PETG", grams=10)], unknown_grams_ok=True).ok


def test_a_near_colour_counts_within_the_tolerance() -> None:
    near_black = [MaterialNeed(material="PLA", color="101010", grams=10)]
    assert not check_loaded(AMS, near_black).ok
    assert check_loaded(AMS, near_black, color_tolerance=30).ok


def test_the_modules_example_holds() -> None:
    import doctest

    from printfleet.domain.materials import loaded

    assert doctest.testmod(loaded).failed == 0
