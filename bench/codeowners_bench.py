"""Benchmark engine.codeowners: parsing a big CODEOWNERS and finding owners of many paths.

    .venv/bin/python bench/codeowners_bench.py          # 5,000 rules, 20,000 paths
    .venv/bin/python bench/codeowners_bench.py --small  # 500 rules, 2,000 paths

Prints the parse time, the matching rate (paths/s: last matching rule wins, so a
path no rule matches scans every rule), and as the baseline the same lookups with
``fnmatch`` over the same patterns (which does not implement GitHub's rules; it
only sets the floor of a regex per rule). An alert needs one lookup; the check run
one per failing test.
"""

from __future__ import annotations

import argparse
import fnmatch
import random
import re
import time

from engine.codeowners import parse


def build(rules: int, paths: int) -> tuple[str, list[str]]:
    rng = random.Random(7)
    lines = ["* @org/core"]
    for n in range(rules):
        kind = n % 4
        if kind == 0:
            lines.append(f"/services/svc{n}/ @org/team{n % 50}")
        elif kind == 1:
            lines.append(f"*.gen{n} @org/gen")
        elif kind == 2:
            lines.append(f"**/fixtures{n} @user{n % 97}")
        else:
            lines.append(f"docs/area{n}/* docs{n}@example.com")
    files = [
        f"services/svc{rng.randrange(rules)}/tests/test_{rng.randrange(100)}.py"
        for _ in range(paths)
    ]
    return "\n".join(lines) + "\n", files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    rules, paths = (500, 2_000) if args.small else (5_000, 20_000)
    text, files = build(rules, paths)
    start = time.perf_counter()
    owners = parse(text)
    parsed = time.perf_counter() - start
    start = time.perf_counter()
    found = sum(1 for path in files if owners.owners_of(path))
    matched = time.perf_counter() - start
    patterns = [rule.pattern.strip("/") for rule in owners.rules]
    compiled = [fnmatch.translate(p) for p in patterns]
    regexes = [re.compile(c) for c in compiled]
    start = time.perf_counter()
    for path in files:
        for regex in reversed(regexes):
            if regex.match(path):
                break
    floor = time.perf_counter() - start
    print(f"CODEOWNERS of {len(owners.rules)} rules ({len(text) / 1024:.0f} KiB)")
    print(f"  parse: {parsed * 1000:.1f} ms")
    print(f"  owners_of: {paths / matched:,.0f} paths/s ({found} of {paths} owned)")
    print(f"  baseline, fnmatch regexes, same scan: {paths / floor:,.0f} paths/s")


if __name__ == "__main__":
    main()
