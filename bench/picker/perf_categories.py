#!/usr/bin/env python3
"""Sorts the samples of `perf script` (recorded with --call-graph dwarf) on the gateway's
scraper into where the time goes, by the first matching rule over each sample's whole stack:

    perf script -i perf.data | bench/picker/perf_categories.py
"""
import collections
import re
import sys

# (category, substrings of any frame of the stack); the first rule that matches wins.
RULES = [
    ("kernel: sendmsg (request; on loopback also the page server's receive)", ("sendmsg",)),
    ("kernel: recvmsg (page copy, ACK)", ("recvmsg",)),
    ("kernel: epoll_wait", ("epoll_wait",)),
    ("kernel: timerfd", ("timerfd",)),
    ("metrics parser (extract_metrics)", ("extract_metrics", "SampleScanner")),
    ("publishing views", ("publish_view", "Impl::publish")),
    ("apply_scrape (rest)", ("apply_scrape",)),
    ("HTTP response head (http1)", ("http1::",)),
    ("allocation", ("malloc", "_int_free", "cfree", "unlink_chunk", "operator new", "aligned_new",
                    "aligned_delete")),
]


def frames_of(sample):
    lines = [l.strip() for l in sample.strip().split("\n")]
    return [re.sub(r"^[0-9a-f]+ ", "", l) for l in lines[1:]]


def category(frames):
    stack = " ".join(frames)
    leaf = frames[0] if frames else ""
    if "memmove" in leaf or "memcpy" in leaf or "memset" in leaf:
        return "memcpy/memset"
    for name, needles in RULES:
        if any(n in stack for n in needles):
            return name
    if "[kernel" in stack:
        return "kernel (other)"
    return "scrape loop, rest (user space)"


def main():
    counts = collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        frames = frames_of(sample)
        if frames:
            counts[category(frames)] += 1
    total = sum(counts.values())
    print(f"{total} samples")
    for name, n in counts.most_common():
        print(f"{100.0 * n / total:5.1f} %  {name}")


if __name__ == "__main__":
    main()
