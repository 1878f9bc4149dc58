"""Prompt layout: shared text first, per-decision text last, disclosure as in the study."""

from agents.prompts import (
    ListingEntry,
    build_messages,
    disclosure_note,
    render_listing,
    system_message,
    user_message,
)

ENTRIES = [ListingEntry("Tesla Model 3", 40000, "an electric car", (("electric", True),)),
           ListingEntry("Love in Paris", 7.5)]


def test_listing_is_numbered_with_prices_and_attributes():
    listing = render_listing(ENTRIES)
    assert listing.splitlines() == [
        "1: Tesla Model 3 (price 40,000) - an electric car [electric: yes]",
        "2: Love in Paris (price 7.50)",
    ]


def test_system_text_puts_listing_before_company():
    text = system_message(render_listing(ENTRIES), "Petro", "We love oil.", "Be brief.")
    assert text.index("Choice: <product number>") < text.index("1: Tesla") < text.index(
        "deployed by Petro") < text.index("We love oil.") < text.index("Be brief.")


def test_disclosure_notes_name_the_reader():
    assert "confidential" in disclosure_note("none", "Petro")
    assert "with the customer." in disclosure_note("customer", "Petro")
    assert "with Petro." in disclosure_note("company", "Petro")
    assert "customer and with Petro" in disclosure_note("both", "Petro")


def test_messages_share_a_prefix_across_customers():
    system = system_message(render_listing(ENTRIES), "Petro", "")
    a = build_messages(system, user_message("I want an EV.", 50000, "none", "Petro"))
    b = build_messages(system, user_message("I want a film.", 10, "both", "Petro"))
    assert a[0] == b[0] and a[1] != b[1]
    assert a[1]["content"].startswith("Customer: I want an EV.")
