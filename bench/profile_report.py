"""Summarise py-spy's folded stacks (`python -m bench.rush --profile DIR`) for one endpoint.

    python -m bench.profile_report DIR [--endpoint PortalApi.add_line] [--top 25]

py-spy ran with --idle, so a sample is wall time of a thread, whether it runs Python, waits for
PostgreSQL (a row lock, a round trip) or waits for the GIL. The report gives, for the requests of
the endpoint: the share of time inside each frame of our code and of the main libraries
(inclusive), and where the time finally goes (waiting for the database vs running Python).
"""
from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")


def load(directory: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for path in sorted(directory.glob("*.folded")):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks.append((stack.split(";"), int(count)))
    return stacks


def short(frame: str, with_line: bool = True) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "/work/main/", "/tmp/pf8/snap/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file}:{match['line']})" if with_line and match["line"] else f"{match['func']} ({file})"


def category(stack: list[str]) -> str:
    """Where the sample's time finally goes."""
    leaf = stack[-1]
    joined = ";".join(stack[-6:])
    if "psycopg" in joined and ("wait" in leaf or "PQ" in leaf or "execute" in leaf or "_send" in leaf
                                or "fetch" in leaf or "select" in leaf.lower()):
        return "waiting for PostgreSQL (round trip, row lock)"
    if "psycopg" in joined:
        return "psycopg (Python side)"
    if "redis" in joined:
        return "Redis"
    if "sqlalchemy" in joined:
        return "SQLAlchemy (Python)"
    if "jinja2" in joined or "templating" in joined:
        return "templates"
    if "flask_appbuilder" in joined or "jwt" in joined.lower():
        return "Flask-AppBuilder / JWT"
    return "other Python"


def report(directory: Path, endpoint: str, top: int) -> str:
    stacks = [(s, n) for s, n in load(directory) if any(endpoint in f for f in s)]
    total = sum(n for _, n in stacks)
    if not total:
        return f"no sample inside {endpoint} in {directory}"
    inclusive: Counter = Counter()
    own_code: Counter = Counter()
    categories: Counter = Counter()
    for stack, n in stacks:
        start = next(i for i, f in enumerate(stack) if endpoint in f)
        seen = set()
        for frame in stack[start:]:
            key = short(frame, with_line=False)
            if key not in seen:
                seen.add(key)
                inclusive[key] += n
        # The deepest frame of our own code: the line that led to the time spent.
        ours = [f for f in stack[start:] if "app/" in f and "site-packages" not in f]
        if ours:
            own_code[short(ours[-1])] += n
        categories[category(stack)] += n
    lines = [f"{endpoint}: {total} samples (wall time, all threads)", "", "where the time goes:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in categories.most_common()]
    lines += ["", f"inclusive time by function (top {top}):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", f"deepest line of our code (top {top}):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own_code.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.profile_report")
    p.add_argument("directory", type=Path)
    p.add_argument("--endpoint", default="PortalApi.add_line")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    print(report(args.directory, args.endpoint, args.top))


if __name__ == "__main__":
    main()
