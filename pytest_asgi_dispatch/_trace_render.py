"""A trace's calls for people: the aligned table, the Mermaid diagram, the assertion message.

The table is what a failing test's report shows (one line per call: caller -> mount,
method, path, status, time, exception); the diagram is a Mermaid `sequenceDiagram`,
which GitHub and mkdocs-material draw from a ```mermaid block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._trace import Call, _Criteria

__all__ = ["describe_error", "mermaid", "not_called_message", "table"]

# Longest exception message a table line or an arrow shows; the JSON keeps it whole.
_ERROR_CHARS = 160
_LABEL_CHARS = 100
NO_ROUTE = "(no route)"
# Mermaid ends a message's text at `;`, `#` and a line end, and reads `<...>` as HTML;
# its entity codes (`#59;`) stand for them instead.
_MERMAID_UNSAFE = re.compile(r"[;#<>\r\n]")


def describe_error(error: BaseException, limit: int = _ERROR_CHARS) -> str:
    """`Type: message`, the message's first line, cut to `limit` characters."""
    from ._trace import error_type

    name = error_type(error).rpartition(".")[2]
    lines = str(error).strip().splitlines()
    text = f"{name}: {lines[0]}" if lines else name
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _target(call: Call) -> str:
    return call.path + (f"?{call.query}" if call.query else "")


def _method(call: Call) -> str:
    return call.method if call.kind == "http" else "WS"


def _milliseconds(call: Call) -> str:
    return "running" if call.duration is None else f"{call.duration * 1000:.1f} ms"


def table(calls: Sequence[Call]) -> str:
    """One numbered line per call, in columns: caller -> mount, method, path, status, time,
    exception."""
    if not calls:
        return "(no calls recorded)"
    header = ("#", "caller -> mount", "method", "path", "status", "time", "exception")
    rows = [
        (
            str(number),
            f"{call.caller} -> {call.mount if call.mount is not None else NO_ROUTE}",
            _method(call),
            _target(call),
            "-" if call.status is None else str(call.status),
            _milliseconds(call),
            "" if call.error is None else describe_error(call.error),
        )
        for number, call in enumerate(calls, 1)
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right_aligned = {0, 4, 5}

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return "\n".join(line(row) for row in (header, *rows))


def mermaid(calls: Sequence[Call]) -> str:
    """A `sequenceDiagram`: participants the test and each mount, in order of appearance;
    for each call an arrow `METHOD path` at its start and, at its end, the answer: its
    status, dashed back to the caller, crossed and naming the exception if the app raised."""
    names = ["test"]
    for call in calls:
        for name in (call.caller, _served_by(call)):
            if name not in names:
                names.append(name)
    ids = {name: f"P{number}" for number, name in enumerate(names)}
    lines = ["sequenceDiagram"]
    lines += [f"    participant {ids[name]} as {_mermaid_text(name)}" for name in names]
    events: list[tuple[float, int, str]] = []
    for order, call in enumerate(calls):
        caller, served_by = ids[call.caller], ids[_served_by(call)]
        request = f"{_method(call)} {_target(call)}"
        events.append((call.start, 2 * order, f"{caller}->>{served_by}: {_label(request)}"))
        if call.duration is not None:
            arrow = "--x" if call.error is not None else "-->>"
            events.append(
                (
                    call.start + call.duration,
                    2 * order + 1,
                    f"{served_by}{arrow}{caller}: {_label(_answer(call))}",
                )
            )
    lines += [f"    {text}" for _, _, text in sorted(events)]
    return "\n".join(lines) + "\n"


def _served_by(call: Call) -> str:
    return call.mount if call.mount is not None else NO_ROUTE


def _answer(call: Call) -> str:
    status = "no response" if call.status is None else str(call.status)
    if call.error is None:
        return status
    return f"{status}, {describe_error(call.error, _LABEL_CHARS)}"


def _label(text: str) -> str:
    if len(text) > _LABEL_CHARS:
        text = text[: _LABEL_CHARS - 1] + "…"
    return _mermaid_text(text)


def _mermaid_text(text: str) -> str:
    return _MERMAID_UNSAFE.sub(lambda match: f"#{ord(match.group())};", text) or " "


def not_called_message(
    criteria: _Criteria, calls: Sequence[Call], found: Sequence[Call], times: int | None
) -> str:
    """`assert_called`'s failure: what was expected, every call recorded, the nearest match."""
    wanted = _describe_criteria(criteria)
    if not calls:
        return (
            f"expected {wanted}, but no calls were recorded (is this trace the one given "
            "to dispatch(..., trace=...)?)"
        )
    recorded = f"{len(calls)} recorded call{'s' if len(calls) > 1 else ''}"
    if found:
        numbers = ", ".join(f"#{calls.index(call) + 1}" for call in found)
        got = f"{_times(len(found))} ({numbers})"
        summary = f"expected {wanted} {_times(times)}, got {got} of the {recorded}:"
    else:
        summary = f"expected {wanted}; none of the {recorded} matches:"
    lines = [summary, _indent(table(calls))]
    if not found:
        lines.append(_nearest(criteria, calls))
    return "\n".join(lines)


def _times(count: int | None) -> str:
    return "once" if count == 1 else f"{count} times"


def _describe_criteria(criteria: _Criteria) -> str:
    given = criteria.described
    words = [f"a call to {given['mount']!r}" if "mount" in given else "a call"]
    for name in ("method", "path"):
        if name in given:
            words.append(str(given[name]))
    for name in ("caller", "status", "kind"):
        if name in given:
            words.append(f"{name} {given[name]}")
    return " ".join(words)


def _nearest(criteria: _Criteria, calls: Sequence[Call]) -> str:
    """The call that misses the fewest criteria (the mount weighing most), and how."""
    weights = {"mount": 4, "path": 3, "method": 2}

    def distance(call: Call) -> int:
        return sum(weights.get(name, 1) for name in criteria.misses(call))

    nearest = min(calls, key=distance)  # the first of equals
    number = calls.index(nearest) + 1
    differences = "; ".join(
        _difference(criteria, nearest, name) for name in criteria.misses(nearest)
    )
    return f"Nearest match: #{number} ({differences})."


def _difference(criteria: _Criteria, call: Call, name: str) -> str:
    expected = criteria.described[name]
    actual: object = {
        "mount": call.mount if call.mount is not None else NO_ROUTE,
        "caller": call.caller,
        "method": call.method,
        "path": _target(call) if criteria.path_has_query else call.path,
        "status": call.status,
        "kind": call.kind,
    }[name]
    return f"{name} is {actual}, not {expected}"


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" if line else line for line in text.splitlines())
