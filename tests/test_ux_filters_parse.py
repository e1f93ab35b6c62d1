"""Filters in the URL (issue 15, item 3), the pure part: presets end at the latest call, a link
round-trips, and any query string gives a choice or notes, never an exception."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmledger.reads import filters as rf
from llmledger.reads.filters import CUSTOM, DEFAULT_PRESET, PRESETS, QUERY_KEYS, FilterChoice, parse_query

BOUNDS = (date(2025, 5, 3), date(2026, 11, 20))  # 18 months of old sample files


@pytest.mark.parametrize(
    "preset, expected",
    [
        ("last_7_days", (date(2026, 11, 14), date(2026, 11, 20))),
        ("last_30_days", (date(2026, 10, 22), date(2026, 11, 20))),
        ("last_90_days", (date(2026, 8, 23), date(2026, 11, 20))),
        ("this_month", (date(2026, 11, 1), date(2026, 11, 20))),
        ("last_month", (date(2026, 10, 1), date(2026, 10, 31))),
        ("all", BOUNDS),
    ],
)
def test_presets_end_at_the_latest_call(preset, expected):
    assert rf.preset_range(preset, BOUNDS) == expected


def test_presets_are_cut_to_the_data_and_january_has_a_last_month():
    assert rf.preset_range("last_90_days", (date(2026, 11, 10), date(2026, 11, 20))) == (
        date(2026, 11, 10),
        date(2026, 11, 20),
    )
    assert rf.preset_range("last_month", (date(2025, 1, 1), date(2026, 1, 15))) == (
        date(2025, 12, 1),
        date(2025, 12, 31),
    )
    # no overlap: the window as asked (empty), not a made-up one
    assert rf.preset_range("last_month", (date(2026, 11, 2), date(2026, 11, 20))) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )


def test_the_default_is_a_recent_window_not_the_whole_span():
    lo, hi = FilterChoice().dates(BOUNDS)
    assert DEFAULT_PRESET == "last_30_days" and (hi - lo).days == 29 and hi == BOUNDS[1]


def test_a_link_round_trips():
    c = FilterChoice.custom(date(2026, 10, 1), date(2026, 10, 31)).with_values(
        {"feature": ["chat", "a&b=c?"], "model": ["gpt-4o"]}
    )
    q = c.to_query()
    assert q == {"start": ["2026-10-01"], "end": ["2026-10-31"], "feature": ["chat", "a&b=c?"], "model": ["gpt-4o"]}
    assert parse_query(q) == (c, [])
    assert parse_query(FilterChoice("last_month").to_query()) == (FilterChoice("last_month"), [])
    assert parse_query({"page": ["2"]}) == (None, [])  # not ours: no choice


@pytest.mark.parametrize(
    "query, note, dates",
    [
        ({"start": ["yesterday"]}, "start='yesterday' is not a date", None),
        ({"end": ["2026-13-01"]}, "end='2026-13-01' is not a date", None),
        ({"preset": ["fortnight"]}, "preset='fortnight' is not one of", rf.preset_range(DEFAULT_PRESET, BOUNDS)),
        ({"preset": ["custom"]}, "preset='custom' is not one of", rf.preset_range(DEFAULT_PRESET, BOUNDS)),
        ({"start": ["2026-11-10"], "end": ["2026-11-01"]}, "swapped", (date(2026, 11, 1), date(2026, 11, 10))),
        ({"start": ["0001-01-01"]}, "outside the years", None),
        ({"start": ["2026-11-01"], "preset": ["all"]}, "the dates are used", (date(2026, 11, 1), BOUNDS[1])),
    ],
)
def test_bad_values_are_ignored_with_a_note(query, note, dates):
    choice, notes = parse_query(query)
    assert choice is not None and any(note in n for n in notes), notes
    if dates:
        assert choice.dates(BOUNDS) == dates


def test_known_drops_values_the_ledger_does_not_have():
    c = FilterChoice().with_values({"feature": ["chat", "gone"], "team": ["nobody"]})
    kept, notes = c.known({"feature": ["chat", "search"], "team": ["core"]})
    assert kept.values == (("feature", ("chat",)),)
    assert any("'gone'" in n for n in notes) and any("'nobody'" in n for n in notes)


TEXT = st.text(max_size=30)
TIMES = [
    "2026-11-01T14:00",
    "2026-11-01T14:00Z",
    "2026-11-02T09:30+05:30",
    "2026-11-01T14:00 01:00",
    "2026-11-01T25:00",
]
QUERIES = st.dictionaries(
    st.sampled_from(QUERY_KEYS + ("page", "tab")) | TEXT,
    st.lists(st.sampled_from(["2026-11-01", "2026-02-30", "", "all", *TIMES, *PRESETS]) | TEXT, max_size=4),
    max_size=8,
)


@settings(max_examples=500, deadline=None)
@given(QUERIES)
def test_any_query_string_gives_a_choice_or_notes(query):
    choice, notes = parse_query(query)
    assert all(isinstance(n, str) and n for n in notes)
    if choice is None:
        assert not any(k in query for k in QUERY_KEYS)
        return
    assert choice.preset in PRESETS
    lo, hi = choice.dates(BOUNDS)
    assert lo <= hi
    assert set(dict(choice.values)) <= set(rf.DIMENSIONS)
    f = choice.call_filter(BOUNDS)  # builds SQL-ready filters without raising
    f.where()
    again, more = parse_query(choice.to_query())  # what it writes back reads cleanly
    assert not more and again.dates(BOUNDS) == choice.dates(BOUNDS) and again.values == choice.values


@settings(max_examples=300, deadline=None)
@given(
    start=st.dates(min_value=date(1970, 1, 1), max_value=date(2999, 12, 31)) | st.none(),
    end=st.dates(min_value=date(1970, 1, 1), max_value=date(2999, 12, 31)) | st.none(),
    preset=st.sampled_from([p for p in PRESETS if p != CUSTOM]),
    values=st.dictionaries(st.sampled_from(list(rf.DIMENSIONS)), st.lists(TEXT.filter(bool), max_size=3, unique=True)),
)
def test_every_choice_round_trips_through_its_link(start, end, preset, values):
    for c in (FilterChoice.custom(start, end).with_values(values), FilterChoice(preset).with_values(values)):
        back, notes = parse_query(c.to_query())
        assert notes == [] and back.dates(BOUNDS) == c.dates(BOUNDS) and back.values == c.values


# ------------------------------------------------------------------ exact times (alert links)

T14 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-11-03T14:00", T14),  # no offset: UTC
        ("2026-11-03T14:00Z", T14),
        ("2026-11-03T15:00+01:00", T14),
        ("2026-11-03T09:00-05:00", T14),
        ("2026-11-03T15:00 01:00", T14),  # a `+` a query string turned into a space
        ("2026-11-03 14:00:30", T14 + timedelta(seconds=30)),
        ("2026-11-03T14:00:00.250000Z", T14 + timedelta(milliseconds=250)),
    ],
)
def test_start_and_end_accept_an_iso_time(raw, expected):
    choice, notes = parse_query({"start": [raw]})
    assert notes == [] and choice.start_at == expected and choice.start_at.utcoffset() == timedelta(0)
    assert choice.dates(BOUNDS)[0] == expected.date()
    assert choice.call_filter(BOUNDS).bounds()[0] == expected


def test_an_exact_window_filters_exactly_and_round_trips():
    lo, hi = T14, T14 + timedelta(hours=11, minutes=30)  # into the next UTC day
    c = FilterChoice.custom(lo, hi).with_values({"feature": ["chat"]})
    assert c.exact and c.dates(BOUNDS) == (date(2026, 11, 3), date(2026, 11, 4))
    q = c.to_query()
    assert q == {"start": ["2026-11-03T14:00Z"], "end": ["2026-11-04T01:30Z"], "feature": ["chat"]}
    assert parse_query(q) == (c, [])
    f = c.call_filter(BOUNDS)
    assert f.bounds() == (lo, hi) and (f.start, f.end) == (date(2026, 11, 3), date(2026, 11, 4))
    where, params = f.where()
    assert "start_time >= ?" in where and params[:2] == [lo, hi]


def test_an_end_time_is_exclusive_and_a_day_is_whole():
    c, _ = parse_query({"start": ["2026-11-03"], "end": ["2026-11-05T00:00Z"]})
    assert c.dates(BOUNDS) == (date(2026, 11, 3), date(2026, 11, 4))  # nothing of the 5th
    assert c.call_filter(BOUNDS).bounds() == (datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC))
    c, _ = parse_query({"start": ["2026-11-03T14:00"], "end": ["2026-11-03"]})  # a day end: all of it
    assert c.call_filter(BOUNDS).bounds() == (T14, datetime(2026, 11, 4, tzinfo=UTC))


@pytest.mark.parametrize(
    "query, note",
    [
        ({"start": ["2026-11-03T25:00"]}, "start='2026-11-03T25:00' is not a date (YYYY-MM-DD) or a time"),
        ({"end": ["2026-11-03T14:00+25:00"]}, "end='2026-11-03T14:00+25:00' is not a date"),
        ({"start": ["14:00"]}, "is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM"),
        ({"start": ["0001-01-01T00:00"]}, "outside the years 1970 to 2999"),
        ({"start": ["2026-11-03T18:00"], "end": ["2026-11-03T14:00"]}, "swapped"),
        ({"start": ["2026-11-03T14:00"], "end": ["2026-11-03T15:00+01:00"]}, "the end is ignored"),
    ],
)
def test_bad_times_are_ignored_with_a_clear_note(query, note):
    choice, notes = parse_query(query)
    assert choice is not None and any(note in n for n in notes), notes
    lo, hi = choice.call_filter(BOUNDS).bounds()
    assert lo is None or hi is None or lo < hi


AWARE = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2998, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)


@settings(max_examples=300, deadline=None)
@given(start=AWARE | st.none(), end=AWARE | st.none())
def test_any_exact_window_round_trips_through_its_link(start, end):
    c = FilterChoice.custom(start, end)
    back, notes = parse_query(c.to_query())
    assert notes == [] and (back == c or start is end is None)  # no dates at all: the link says "all"
    lo, hi = c.call_filter(BOUNDS).bounds()
    if start is not None and end is not None and start != end:
        assert (lo, hi) == (min(start, end), max(start, end))  # swapped when given the wrong way round
    assert lo is None or hi is None or lo < hi
