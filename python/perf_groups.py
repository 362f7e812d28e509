#!/usr/bin/env python3
"""Groups a `perf record` profile of the server by the layer each sample landed in, per call.

    perf record -F 2000 -g -p "$(pgrep -f 'pyhost serve')" -o perf.data -- sleep 5   # while wrk runs
    python/perf_groups.py perf.data CALLS [--frequency 2000]

CALLS is the number of calls served while perf recorded (wrk prints it). Prints a markdown table:
each group's share of the samples and its µs per call (docs/benchmarks.md, "What limits the rest").
"""

import argparse
import collections
import re
import subprocess

SAMPLE = re.compile(r"\s+[\d.]+%\s+(\d+)\s+(\S+)\s+\[(.)\]\s+(.*)")


def group(dso, kind, symbol):
    if kind == "k":
        return "kernel"
    if "retain" in symbol or "release" in symbol:
        return "reference counting (swift_retain/swift_release)"
    if symbol.startswith("$s8NIOHTTP1") or "llhttp" in symbol or "HTTPTypes" in symbol:
        return "HTTP/1 parsing and the HTTP types"
    if symbol.startswith(("$s8NIOPosix", "$s7NIOCore", "c_nio")):
        return "NIO: event loops, channels, buffers"
    if "Hummingbird" in symbol:
        return "Hummingbird"
    if symbol.startswith("$s10PyHost"):
        return "pyhost's own code"
    if dso.startswith("libswift") or symbol.startswith(("swift", "$s")):
        return "Swift runtime and standard library"
    if dso.startswith(("libc", "ld-")):
        return "libc: malloc, free, locks"
    return "other"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data")
    parser.add_argument("calls", type=int)
    parser.add_argument("--frequency", type=int, default=2000, help="perf record's -F")
    arguments = parser.parse_args()
    report = subprocess.run(
        ["perf", "report", "-i", arguments.data, "--no-children", "--sort", "dso,sym", "-g", "none", "--stdio",
         "-F", "overhead,sample,dso,sym"], capture_output=True, text=True, check=True).stdout
    groups = collections.Counter()
    for line in report.splitlines():
        match = SAMPLE.match(line)
        if match:
            samples, dso, kind, symbol = match.groups()
            groups[group(dso, kind, symbol.strip())] += int(samples)
    total = sum(groups.values())
    print("| where | share | µs per call |\n|---|---|---|")
    for name, samples in groups.most_common():
        print(f"| {name} | {100 * samples / total:.0f} % | {samples / arguments.frequency / arguments.calls * 1e6:.1f} |")
    print(f"\n{total} samples, {total / arguments.frequency / arguments.calls * 1e6:.0f} µs per call")


if __name__ == "__main__":
    main()
