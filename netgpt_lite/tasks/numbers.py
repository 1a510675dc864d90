"""Spoken quantities for the broad task variety: numbers in words, values in other units, clock times.

Three families of phrasings, each correct by construction (the phrase is derived from the value the gold
call holds, never the other way round):

* numbers in words, in full: :func:`number_to_words` (``120`` -> "one hundred and twenty") and
  :func:`spoken_number` (also "a dozen", "half a dozen", "a couple of", "fifteen hundred");
* values in another unit than the tool takes, which the call must convert: :func:`phrasings` lists, for a
  value of a :data:`~netgpt_lite.tasks.templates.KINDS` kind, phrases tagged ``"words"`` and/or ``"units"``
  (90 minutes -> "an hour and a half", 1500 Mbps -> "1.5 Gbps", 20 percent -> "one in five");
  :data:`BROAD_VALUES` are the values the broad variety samples, each one expressible in another unit,
  inside its schema range, and never the optional argument's default;
* clock times: :func:`say_clock` says an ``"HH:MM"`` start time as "at quarter past ten in the morning",
  "at 3:45 pm", "at 14h30", "in 35 minutes" after "It is 09:40. ", or "20 minutes after the current time of
  13:05".  Midnight is never a start time: the tools schedule *later today*, and 00:00 is already past
  (a time just before midnight may still be said as "twenty to midnight").

Example:
    >>> number_to_words(120), number_to_words(25), number_to_words(1500, use_and=False)
    ('one hundred and twenty', 'twenty-five', 'one thousand five hundred')
    >>> clock_words(15, 30), clock_words(11, 45)
    ('half past three in the afternoon', 'quarter to noon')
"""

from __future__ import annotations

import math

import numpy as np

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_IDIOMS = {2: ("a couple of",), 6: ("half a dozen",), 12: ("a dozen",), 18: ("a dozen and a half",),
           24: ("two dozen",), 36: ("three dozen",), 48: ("four dozen",)}  # fmt: skip
WORDS, UNITS = frozenset({"words"}), frozenset({"units"})
BOTH = WORDS | UNITS

# the values the broad variety samples per kind (schema ranges: tasks/tools.py; defaults left out on purpose)
BROAD_VALUES: dict[str, tuple[int, ...]] = {
    "window": (5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 360, 720, 1440),
    "hours": (2, 3, 4, 6, 8, 12, 36, 48, 72, 96, 120, 168),
    "bandwidth": (5, 25, 40, 75, 150, 250, 300, 400, 500, 750, 1000, 1200, 1500, 2000, 2500, 3000, 5000),
    "latency": (5, 8, 10, 15, 20, 25, 30, 40, 75, 100, 150, 200, 250, 500),
    "percent": (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 75, 80, 90, 100),
    "maint_minutes": (20, 30, 45, 75, 90, 105, 120, 150, 180, 210, 240, 300, 360, 480, 600, 720),
    "power_minutes": (15, 20, 30, 45, 90, 120, 150, 180, 240, 360, 480, 720, 1440),
    "test_seconds": (5, 15, 20, 30, 45, 60, 75, 90, 120),
    "n_clients": (*range(2, 201), *list(_IDIOMS) * 12),  # a third are idioms ("a dozen", "a couple of")
    "epochs": tuple(range(2, 21)),
    "round": tuple(range(10, 1000)),
    "version": tuple(range(2, 41)),
}


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def number_to_words(n: int, use_and: bool = True, hyphen: bool = True) -> str:
    """An integer in [0, 999999] in English words.

    Args:
        n: The number.
        use_and: British "one hundred and twenty" (else "one hundred twenty").
        hyphen: "twenty-five" (else "twenty five").

    Example:
        >>> number_to_words(7), number_to_words(40), number_to_words(305), number_to_words(2024, hyphen=False)
        ('seven', 'forty', 'three hundred and five', 'two thousand and twenty four')
    """
    if not 0 <= n < 1_000_000:
        raise ValueError(f"n must be in [0, 999999], got {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else ("-" if hyphen else " ") + _ONES[ones])
    big, rest, unit = (*divmod(n, 100), "hundred") if n < 1000 else (*divmod(n, 1000), "thousand")
    head = f"{number_to_words(big, use_and, hyphen)} {unit}"
    if rest == 0:
        return head
    joiner = " and " if use_and and rest < 100 else " "  # "one thousand and five", "one thousand two hundred"
    return head + joiner + number_to_words(rest, use_and, hyphen)


def spoken_number(n: int, rng: np.random.Generator, idioms: bool = False) -> str:
    """``n`` said in words, one of its correct spoken forms at random (followed by a plural noun).

    ``idioms`` adds "a couple of" (2), "half a dozen" (6), "a dozen" (12), "two dozen" (24)...: apt for
    counts of things (clients, epochs), odd for durations.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> sorted({spoken_number(120, rng) for _ in range(40)})
        ['a hundred and twenty', 'one hundred and twenty', 'one hundred twenty']
    """
    forms = [number_to_words(n), number_to_words(n, use_and=False), number_to_words(n, hyphen=False)]
    if 100 <= n < 200 or 1000 <= n < 2000:
        forms.append("a" + forms[0][3:])  # "a hundred and twenty", "a thousand"
    if 1000 < n < 10000 and n % 100 == 0 and n % 1000:
        forms.append(f"{number_to_words(n // 100)} hundred")  # "fifteen hundred"
    if idioms and n in _IDIOMS and rng.random() < 0.7:  # said so whenever it is natural
        return _choice(rng, _IDIOMS[n])
    return _choice(rng, sorted(set(forms), key=forms.index))


def _plural(n: float, unit: str) -> str:
    return unit if n == 1 else unit + "s"


def minutes_phrases(m: int, rng: np.random.Generator) -> list[tuple[str, frozenset]]:
    """Phrases of ``m`` minutes in hours, days or seconds (tagged ``units``; also ``words`` when spelled out).

    Example:
        >>> [p for p, _ in minutes_phrases(90, np.random.default_rng(0))][:3]
        ['an hour and a half', '1.5 hours', 'one and a half hours']
    """
    h, r = divmod(m, 60)
    out = []
    if r == 0 and h == 1:
        out += [("an hour", UNITS), ("one hour", UNITS), ("1 hour", UNITS)]
    elif r == 0 and h == 24:
        out += [("a day", UNITS), ("a full day", UNITS), ("24 hours", UNITS), ("twenty-four hours", BOTH)]
    elif r == 0:
        out += [(f"{h} hours", UNITS), (f"{h}h", UNITS), (f"{spoken_number(h, rng)} hours", BOTH)]
        out += [("half a day", UNITS)] if h == 12 else []
    elif r == 30 and h == 0:
        out += [("half an hour", UNITS), ("0.5 hours", UNITS)]
    elif r == 30 and h == 1:
        out += [("an hour and a half", UNITS), ("1.5 hours", UNITS), ("one and a half hours", BOTH)]
    elif r == 30:
        out += [(f"{h}.5 hours", UNITS), (f"{h} and a half hours", UNITS),
                (f"{spoken_number(h, rng)} and a half hours", BOTH)]  # fmt: skip
    elif r in (15, 45):
        named = {(0, 15): "a quarter of an hour", (0, 45): "three quarters of an hour",
                 (1, 15): "an hour and a quarter"}  # fmt: skip
        out += [(named[h, r], UNITS)] if (h, r) in named else []
        out.append((f"{m / 60:g} hours", UNITS))
    if h >= 1 and r:
        hours = _plural(h, "hour")
        out += [(f"{h} h {r} min", UNITS), (f"{h} {hours} and {r} minutes", UNITS),
                (f"{spoken_number(h, rng)} {hours} and {spoken_number(r, rng)} minutes", BOTH)]  # fmt: skip
    if m * 60 <= 7200:
        out.append((f"{m * 60} seconds", UNITS))
    return out


def _hours_phrases(h: int, rng: np.random.Generator) -> list[tuple[str, frozenset]]:
    """A lookback of ``h`` hours in days or minutes."""
    d, r = divmod(h, 24)
    named = {12: "half a day", 24: "a day", 36: "a day and a half", 168: "a week"}
    out = [(named[h], UNITS)] if h in named else []
    if r == 0:
        out += [(f"{d} {_plural(d, 'day')}", UNITS), (f"{spoken_number(d, rng)} {_plural(d, 'day')}", BOTH)]
    elif r == 12:
        out.append((f"{d}.5 days", UNITS))
    if h <= 8:
        out.append((f"{h * 60} minutes", UNITS))
    return out


def _seconds_phrases(s: int, rng: np.random.Generator) -> list[tuple[str, frozenset]]:
    """A test length of ``s`` seconds in minutes or milliseconds."""
    m, r = divmod(s, 60)
    named = {15: "a quarter of a minute", 30: "half a minute", 45: "three quarters of a minute", 60: "a minute",
             90: "a minute and a half"}  # fmt: skip
    out = [(named[s], UNITS)] if s in named else []
    if r == 0:
        out += [(f"{m} {_plural(m, 'minute')}", UNITS), (f"{spoken_number(m, rng)} {_plural(m, 'minute')}", BOTH)]
    elif r in (15, 30, 45):
        out.append((f"{s / 60:g} minutes", UNITS))
    if m >= 1 and r:
        out += [(f"{m} min {r} s", UNITS), (f"{m} {_plural(m, 'minute')} and {r} seconds", UNITS)]
    if s <= 30:
        out += [(f"{s * 1000} ms", UNITS), (f"{s * 1000} milliseconds", UNITS)]
    return out


def _bandwidth_phrases(b: int, rng: np.random.Generator) -> list[tuple[str, frozenset]]:
    """A bandwidth of ``b`` Mbps in Gbps or kbps."""
    out = []
    if b >= 50:
        g = f"{b / 1000:g}"
        out += [(f"{g} Gbps", UNITS), (f"{g} gigabits per second", UNITS), (f"{g} Gb/s", UNITS)]
    if b % 1000 == 0:
        out.append((f"{spoken_number(b // 1000, rng)} {_plural(b // 1000, 'gigabit')} per second", BOTH))
    named = {250: "a quarter of a gigabit per second", 500: "half a gigabit per second",
             1500: "one and a half gigabits per second"}  # fmt: skip
    out += [(named[b], UNITS)] if b in named else []
    if b <= 2000:
        kbps = b * 1000
        out += [(f"{kbps} kbps", UNITS), (f"{kbps:,} kbps", UNITS), (f"{kbps} kilobits per second", UNITS)]
    return out


def _latency_phrases(ms: int, rng: np.random.Generator) -> list[tuple[str, frozenset]]:
    """A latency of ``ms`` milliseconds in seconds or microseconds."""
    named = {10: "a hundredth of a second", 100: "a tenth of a second", 200: "a fifth of a second",
             250: "a quarter of a second", 500: "half a second"}  # fmt: skip
    out = [(named[ms], UNITS)] if ms in named else []
    out += [(f"{ms / 1000:g} s", UNITS), (f"{ms / 1000:g} seconds", UNITS)]
    if ms <= 20:
        out += [(f"{ms * 1000} microseconds", UNITS), (f"{ms * 1000} µs", UNITS)]
    return out


_FRACTIONS = {5: "a twentieth", 10: "a tenth", 20: "a fifth", 25: "a quarter", 30: "three tenths", 40: "two fifths",
              50: "half", 60: "three fifths", 70: "seven tenths", 75: "three quarters", 80: "four fifths",
              90: "nine tenths", 100: "all"}  # fmt: skip


def percent_phrases(p: int, countable: bool = False) -> list[tuple[str, frozenset]]:
    """A share of ``p`` percent as a fraction, a decimal or (``countable``: "of the sessions") a ratio.

    Example:
        >>> [phrase for phrase, _ in percent_phrases(20, countable=True)]
        ['a fifth', '0.2', 'one in five', '1 in 5']
    """
    out = [(_FRACTIONS[p], UNITS)] if p in _FRACTIONS else []
    if p < 100:
        out.append((f"{p / 100:g}", UNITS))
    k = math.gcd(p, 100)
    a, b = p // k, 100 // k
    if countable and p < 100 and b <= 20:
        out += [(f"{number_to_words(a)} in {number_to_words(b)}", UNITS), (f"{a} in {b}", UNITS)]
    return out


# kind -> (unit nouns said after a number in words, phrasings in other units or None); counts take idioms
_SPOKEN = {"window": (("minute",), minutes_phrases), "maint_minutes": (("minute",), minutes_phrases),
           "power_minutes": (("minute",), minutes_phrases), "hours": (("hour",), _hours_phrases),
           "test_seconds": (("second",), _seconds_phrases), "latency": (("millisecond",), _latency_phrases),
           "bandwidth": (("megabit per second", "Mbps"), _bandwidth_phrases),
           "n_clients": (("client", "device", "participant"), None),
           "epochs": (("local epoch", "epoch per client"), None)}  # fmt: skip


def phrasings(kind: str, value: int, rng: np.random.Generator, countable: bool = False
              ) -> list[tuple[str, frozenset]]:  # fmt: skip
    """Every broad phrasing of ``value`` (of a numeric kind) with its feature tags, ``[]`` for other kinds.

    Args:
        kind: A kind of :data:`~netgpt_lite.tasks.templates.KINDS` ("maint_minutes", "percent", "time", ...).
        value: The value the gold call holds.
        rng: Picks among equivalent spoken forms of a number.
        countable: The template says "{percent} of the sessions", so "one in five" reads well.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> [p for p, tags in phrasings("bandwidth", 1500, rng) if tags == UNITS][:2]
        ['1.5 Gbps', '1.5 gigabits per second']
        >>> [p for p, _ in phrasings("round", 40, rng)], phrasings("site", "harbor", rng)
        (['round forty', 'round number forty'], [])
    """
    if kind == "percent":
        words = spoken_number(value, rng)
        return [(f"{words} percent", WORDS), (f"{words} per cent", WORDS), *percent_phrases(value, countable)]
    if kind in ("round", "version"):
        words = spoken_number(value, rng)
        return [(f"{kind} {words}", WORDS), (f"{kind} number {words}", WORDS)]
    if kind not in _SPOKEN:
        return []
    nouns, other_units = _SPOKEN[kind]
    words = spoken_number(value, rng, idioms=kind in ("n_clients", "epochs"))
    noun = _choice(rng, nouns)
    if value != 1 and noun != "Mbps":
        head, per, tail = noun.partition(" per ")
        noun = f"{head}s{per}{tail}"  # "megabits per second", "local epochs"
    return [(f"{words} {noun}", WORDS), *(other_units(value, rng) if other_units else [])]


# --- clock times ---------------------------------------------------------------------------------------------
_MINUTE_WORDS = {0: "", 5: "five past", 10: "ten past", 15: "quarter past", 20: "twenty past",
                 25: "twenty-five past", 30: "half past", 35: "twenty-five to", 40: "twenty to", 45: "quarter to",
                 50: "ten to", 55: "five to"}  # fmt: skip
_PARTS_OF_DAY = ((22, "at night"), (18, "in the evening"), (12, "in the afternoon"), (0, "in the morning"))
_NOW = ("It is {}. ", "It's {} now. ", "Current time: {}. ", "The time is {}. ", "Now it is {}. ")


def sample_clock(rng: np.random.Generator) -> str:
    """A start time ``"HH:MM"`` in 05:00-23:59, mostly on a 5-minute mark (so "now" up to 5 h earlier is today)."""
    minute = int(rng.integers(12)) * 5 if rng.random() < 0.8 else int(rng.integers(60))
    return f"{int(rng.integers(5, 24)):02d}:{minute:02d}"


def clock_words(hour: int, minute: int, part_of_day: bool = True) -> str:
    """A 24-hour time on a 5-minute mark said in words; ``part_of_day`` makes the 12-hour words unambiguous.

    Example:
        >>> clock_words(10, 15), clock_words(21, 0), clock_words(23, 40), clock_words(12, 0)
        ('quarter past ten in the morning', "nine o'clock in the evening", 'twenty to midnight', 'noon')
        >>> clock_words(16, 50, part_of_day=False)
        'ten to five'
    """
    if minute % 5 or not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"clock_words needs a time on a 5-minute mark, got {hour}:{minute}")
    if (hour, minute) == (12, 0):
        return "noon"
    ref = hour if minute <= 30 else hour + 1  # "twenty to five" names the coming hour
    name = {12: "noon", 24: "midnight", 0: "midnight"}.get(ref) or number_to_words((ref - 1) % 12 + 1)
    said = f"{_MINUTE_WORDS[minute]} {name}" if minute else (name if ref in (0, 12, 24) else f"{name} o'clock")
    if part_of_day and ref not in (0, 12, 24):
        said += " " + next(words for start, words in _PARTS_OF_DAY if hour >= start)
    return said


def twelve_hour(hour: int, minute: int, rng: np.random.Generator) -> str:
    """A 24-hour time on the 12-hour clock with am/pm, in one of its written styles ("3:45 pm", "9am").

    Example:
        >>> twelve_hour(15, 45, np.random.default_rng(1)).lower().replace(".", ":").replace(" ", "")[:6]
        '3:45pm'
    """
    h12, suffix = (hour - 1) % 12 + 1, ("am" if hour < 12 else "pm")
    styles = [f"{h12}:{minute:02d} {suffix}", f"{h12}:{minute:02d}{suffix}", f"{h12}.{minute:02d}{suffix}",
              f"{h12}:{minute:02d} {suffix.upper()}"]  # no "p.m.": a sentence's full stop would double it
    if minute == 0:
        styles += [f"{h12} {suffix}", f"{h12}{suffix}", f"{h12} {suffix.upper()}"]
    return _choice(rng, styles)


def _offset_phrase(minutes: int, rng: np.random.Generator) -> str:
    """A time span for "in ..." / "... after": digits, words or hours."""
    options = [f"{minutes} minutes", f"{spoken_number(minutes, rng)} minutes"] if minutes < 100 else []
    options += [phrase for phrase, _ in minutes_phrases(minutes, rng) if "seconds" not in phrase]
    return _choice(rng, options)


def say_clock(hhmm: str, rng: np.random.Generator) -> tuple[str, str]:
    """Say a start time in one of many forms; returns ``(phrase, prefix)`` (relative forms state the time now).

    Forms: 12-hour clock ("at 3:45 pm"), continental ("at 14h30", "at 1430 hours"), words with the part of
    the day ("at half past three in the afternoon", "at noon"), words after a stated time ("It is 09:40. ",
    "at quarter past ten"), an offset ("It is 09:40. ", "in 35 minutes") and a self-contained offset
    ("20 minutes after the current time of 13:05").  The phrase fills a template's ``{start_time}`` slot.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> phrase, prefix = say_clock("15:30", rng)
        >>> phrase, prefix
        ('at half past three in the afternoon', '')
    """
    hour, minute = map(int, hhmm.split(":"))
    t = hour * 60 + minute
    offset = int(rng.integers(1, 49)) * 5 if rng.random() < 0.8 else int(rng.integers(1, 241))
    now_h, now_m = divmod(t - offset, 60)  # t >= 05:00 and offset <= 4 h: now is today
    now = _choice(rng, [f"{now_h:02d}:{now_m:02d}", twelve_hour(now_h, now_m, rng)])
    quarter = "a quarter" if rng.random() < 0.3 else "quarter"  # "a quarter past ten" is as common
    continental = (f"{hour:02d}h{minute:02d}", f"{hour:02d}{minute:02d} hours", f"{hour:02d}.{minute:02d}")
    forms = [(f"at {twelve_hour(hour, minute, rng)}", "")] * 2 + [(f"at {_choice(rng, continental)}", ""),
             (f"in {_offset_phrase(offset, rng)}", _choice(rng, _NOW).format(now)),
             (f"{_offset_phrase(offset, rng)} from now", _choice(rng, _NOW).format(now)),
             (f"{_offset_phrase(offset, rng)} after the current time of {now}", "")]  # fmt: skip
    if minute % 5 == 0:
        forms += [(f"at {clock_words(hour, minute).replace('quarter', quarter)}", "")] * 3  # the most varied form
        if offset <= 180:  # the next time the clock says these words is this one
            forms.append((f"at {clock_words(hour, minute, False)}", _choice(rng, _NOW).format(now)))
    return _choice(rng, forms)
