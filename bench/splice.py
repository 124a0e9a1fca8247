"""Writes one generated section into BENCHMARKS.md between its markers, so that each bench script
replaces its own section and leaves the others (and hand-written ones) alone."""

import os


def splice(report, name, section):
    """Replaces `<!-- name:begin -->` ... `<!-- name:end -->` in `report` with `section` (which
    carries no markers), or appends it when the markers are absent."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section.strip()}\n{end}"
    text = open(report).read() if os.path.exists(report) else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + block + "\n"
    with open(report, "w") as f:
        f.write(text)
