"""Time buckets and the activity chart: bucket sizes that fit, counts per bucket, date
labels, and the inline SVG chart.

Pure and deterministic (no clock, no locale): same input, byte-identical output. All
times are UTC.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from markupsafe import escape

from bsarchive.export.digest.model import DigestPost

Bucket = Literal["minute", "hour", "day", "week", "month", "year"]
_WIDER: dict[Bucket, Bucket] = {
    "minute": "hour",
    "hour": "day",
    "day": "week",
    "week": "month",
    "month": "year",
}

# Hourly buckets while the window is at most three days (the rule for a conference).
HOURLY_MAX_SPAN = timedelta(days=3)
# More bars than this and the chart stops being readable and the SVG grows past ~300 kB:
# widen the bucket (hour -> day -> week -> month -> year) until it fits.
MAX_BUCKETS = 2000
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS_LONG = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# --- buckets and chart ------------------------------------------------------------------


def bucket_start(moment: datetime, size: Bucket) -> datetime:
    """Return the start (UTC) of the bucket holding ``moment``."""
    moment = moment.astimezone(UTC)
    if size == "minute":
        return moment.replace(second=0, microsecond=0)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    if size == "hour":
        return hour
    day = hour.replace(hour=0)
    if size == "day":
        return day
    if size == "week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next_bucket(start: datetime, size: Bucket) -> datetime:
    if size == "minute":
        return start + timedelta(minutes=1)
    if size == "hour":
        return start + timedelta(hours=1)
    if size == "day":
        return start + timedelta(days=1)
    if size == "week":
        return start + timedelta(weeks=1)
    if size == "month":
        if start.month == 12:
            return start.replace(year=start.year + 1, month=1)
        return start.replace(month=start.month + 1)
    return start.replace(year=start.year + 1)


def _bucket_total(first: datetime, last: datetime, size: Bucket) -> int:
    """How many buckets of ``size`` span ``first``..``last`` (both included)."""
    a, b = bucket_start(first, size), bucket_start(last, size)
    if size in ("minute", "hour", "day", "week"):
        step = {
            "minute": timedelta(minutes=1),
            "hour": timedelta(hours=1),
            "day": timedelta(days=1),
            "week": timedelta(weeks=1),
        }
        return (b - a) // step[size] + 1
    if size == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    return b.year - a.year + 1


def _fit(size: Bucket, first: datetime, last: datetime) -> Bucket:
    """Widen ``size`` until ``first``..``last`` needs at most MAX_BUCKETS buckets."""
    while size != "year" and _bucket_total(first, last, size) > MAX_BUCKETS:
        size = _WIDER[size]
    return size


def bucket_size(
    since: datetime | None,
    until: datetime | None,
    first: datetime | None,
    last: datetime | None,
) -> Bucket:
    """Choose the chart and timeline bucket: ``"hour"`` when the window spans at most three
    days, else ``"day"``, widened while the posts (``first``..``last``) would need more than
    MAX_BUCKETS bars.

    The window is ``since``..``until``, falling back to the first and last post.
    """
    start = since if since is not None else first
    end = until if until is not None else last
    if start is None or end is None:
        return "hour"
    size: Bucket = "hour" if end - start <= HOURLY_MAX_SPAN else "day"
    lo = first if first is not None else start
    hi = last if last is not None else end
    return _fit(size, min(lo, hi), max(lo, hi))


def bucket_counts(posts: Iterable[DigestPost], size: Bucket) -> list[tuple[datetime, int]]:
    """Count posts per bucket from the first post's bucket to the last's, empty ones included.

    ``size`` is widened if it would need more than MAX_BUCKETS buckets (:func:`bucket_size`
    already returns a size that fits).
    """
    moments = [post.created_at for post in posts]
    if not moments:
        return []
    first, last = min(moments), max(moments)
    size = _fit(size, first, last)
    counts = Counter(bucket_start(moment, size) for moment in moments)
    result: list[tuple[datetime, int]] = []
    current, end = bucket_start(first, size), bucket_start(last, size)
    while current <= end:
        result.append((current, counts.get(current, 0)))
        current = _next_bucket(current, size)
    return result


def minute_window(end: datetime, minutes: int) -> tuple[datetime, datetime]:
    """[start, stop) of the ``minutes`` minutes ending with ``end``'s minute."""
    last = bucket_start(end, "minute")
    return last - timedelta(minutes=max(1, minutes) - 1), last + timedelta(minutes=1)


def minute_series(
    counts: Iterable[tuple[datetime, int]], end: datetime, minutes: int
) -> list[tuple[datetime, int]]:
    """Per-minute ``counts`` (minute start, count) laid over the ``minutes`` minutes
    ending with ``end``'s minute, empty minutes included; minutes outside are left out."""
    first, stop = minute_window(end, minutes)
    given = {start: n for start, n in counts if first <= start < stop}
    return [
        (first + timedelta(minutes=i), given.get(first + timedelta(minutes=i), 0))
        for i in range(max(1, minutes))
    ]


def _two(n: int) -> str:
    return f"{n:02d}"


def _date(moment: datetime) -> str:
    """``Thu 20 Nov 2025`` (fixed English, independent of the process locale)."""
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _clock(moment: datetime) -> str:
    return f"{_two(moment.hour)}:{_two(moment.minute)}"


def _datetime(moment: datetime) -> str:
    """``Thu 20 Nov 2025, 14:05 UTC``."""
    moment = moment.astimezone(UTC)
    return f"{_date(moment)}, {_clock(moment)} UTC"


def _bucket_label(start: datetime, size: Bucket) -> str:
    """Heading for a timeline group."""
    if size == "minute":
        return f"{_date(start)}, {_clock(start)} UTC"
    if size == "hour":
        end = _next_bucket(start, size)
        return f"{_date(start)}, {_clock(start)}\u2013{_clock(end)} UTC"
    if size == "day":
        weekday = _DAYS_LONG[start.weekday()]
        return f"{weekday} {start.day} {_MONTHS_LONG[start.month - 1]} {start.year}"
    if size == "week":
        return f"Week of {_date(start)}"
    if size == "month":
        return f"{_MONTHS_LONG[start.month - 1]} {start.year}"
    return str(start.year)


def _bucket_short(start: datetime, size: Bucket) -> str:
    """Axis label for a bar."""
    month = _MONTHS[start.month - 1]
    if size in ("minute", "hour"):
        return f"{start.day} {month} {_clock(start)}"
    if size in ("day", "week"):
        return f"{start.day} {month} {start.year}"
    if size == "month":
        return f"{month} {start.year}"
    return str(start.year)


def _plural(count: int, word: str, many: str | None = None) -> str:
    """``1 post``, ``2 posts`` (``many`` for irregular plurals)."""
    return f"{count:,} " + (word if count == 1 else many or word + "s")


def _num(value: float) -> str:
    """Fixed SVG number format: two decimals, so output never depends on float repr."""
    return f"{value:.2f}"


def _infer_size(buckets: Sequence[tuple[datetime, int]]) -> Bucket:
    if len(buckets) < 2:
        return "hour"
    gap = buckets[1][0] - buckets[0][0]
    if gap <= timedelta(minutes=1):
        return "minute"
    if gap <= timedelta(hours=1):
        return "hour"
    if gap <= timedelta(days=1):
        return "day"
    if gap <= timedelta(weeks=1):
        return "week"
    if gap <= timedelta(days=31):
        return "month"
    return "year"


def render_chart_svg(buckets: Sequence[tuple[datetime, int]], *, size: Bucket | None = None) -> str:
    """Draw posts per bucket as an inline, accessible SVG bar chart (no scripts, no styles
    that load anything). One ``<rect class="bar">`` per bucket, empty buckets included.

    ``size`` names the bucket for labels; inferred from the bucket spacing when omitted.
    """
    size = size if size is not None else _infer_size(buckets)
    width, height = 720, 220
    left, right, top, bottom = 48, 12, 16, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    total = sum(count for _, count in buckets)
    peak = max((count for _, count in buckets), default=0)
    title = f"Posts per {size}"
    if buckets:
        peak_at = next(start for start, count in buckets if count == peak)
        desc = (
            f"{_plural(total, 'post')} in {_plural(len(buckets), size)} from "
            f"{_bucket_label(buckets[0][0], size)} to {_bucket_label(buckets[-1][0], size)}; "
            f"busiest: {_bucket_label(peak_at, size)} with {_plural(peak, 'post')}."
        )
    else:
        desc = "No posts in this window."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(title)}: {escape(desc)}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        '<g font-family="sans-serif" font-size="11" fill="#555">',
    ]
    base = top + plot_h
    # Axes and a mid gridline.
    out.append(
        f'<path class="axis" d="M{left} {top}V{base}H{width - right}" fill="none"'
        ' stroke="#888" stroke-width="1"/>'
    )
    ticks = sorted({0, peak // 2, peak}) if peak else [0]
    for tick in ticks:
        y = base - (tick / peak * plot_h if peak else 0)
        out.append(
            f'<text class="ytick" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{tick}</text>'
        )
        if tick:
            out.append(
                f'<path d="M{left} {_num(y)}H{width - right}" stroke="#ddd" stroke-width="1"/>'
            )
    if buckets:
        slot = plot_w / len(buckets)
        bar_w = slot * 0.8 if slot >= 3 else slot
        for index, (start, count) in enumerate(buckets):
            bar_h = count / peak * plot_h if peak else 0.0
            x = left + index * slot + (slot - bar_w) / 2
            tip = f"{_bucket_label(start, size)}: {_plural(count, 'post')}"
            out.append(
                f'<rect class="bar" x="{_num(x)}" y="{_num(base - bar_h)}" width="{_num(bar_w)}"'
                f' height="{_num(bar_h)}" fill="#3b6ea5"><title>{escape(tip)}</title></rect>'
            )
        # X labels: first, middle, last bucket.
        marks = sorted({0, len(buckets) // 2, len(buckets) - 1})
        for index in marks:
            # First label starts at the left edge, last ends at the right, middle is centred.
            if index == 0:
                anchor, offset = "start", 0.0
            elif index == len(buckets) - 1:
                anchor, offset = "end", 1.0
            else:
                anchor, offset = "middle", 0.5
            x = left + (index + offset) * slot
            label = escape(_bucket_short(buckets[index][0], size))
            out.append(
                f'<text class="xtick" x="{_num(x)}" y="{base + 16}" text-anchor="{anchor}">'
                f"{label}</text>"
            )
    else:
        out.append(
            f'<text x="{left + plot_w // 2}" y="{top + plot_h // 2}" text-anchor="middle">'
            "No posts</text>"
        )
    out.append(
        f'<text class="axis-label" x="{left + plot_w // 2}" y="{height - 8}"'
        f' text-anchor="middle">Time (UTC), one bar per {size}</text>'
    )
    out.append(
        f'<text class="axis-label" x="12" y="{top + plot_h // 2}" text-anchor="middle"'
        f' transform="rotate(-90 12 {top + plot_h // 2})">Posts</text>'
    )
    out.append("</g></svg>")
    return "\n".join(out)
