#!/usr/bin/env python3
"""Sorts the samples of `perf script` on the gateway (recorded with --call-graph dwarf) into
where a request's CPU time goes, by the first matching rule over each sample's whole stack, and
prints each category's share and, given the CPU time per request (-u MICROSECONDS), its cost:

    perf script -i perf.data | bench/proxy/request_categories.py -u 24.0
"""
import argparse
import collections
import pathlib
import sys

# One sample's frames, leaf first: the scraper's profile script reads them the same way.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "picker"))
from perf_categories import frames_of  # noqa: E402

# (category, substrings of any frame of the stack); the first rule that matches wins. The
# first group is work nginx and HAProxy do as well (moving bytes); the rest is what only the
# gateway does (reading, picking, rewriting, admitting, logging and counting: the benchmark's
# nginx and HAProxy log nothing) or its runtime.
RULES = [
    ("kernel: send and receive (all proxies)", ("sendmsg", "recvmsg", "recvfrom", "sendto",
                                                 "__libc_recv", "__libc_send", "writev", "readv")),
    ("kernel: epoll (all proxies)", ("epoll_wait", "epoll_ctl")),
    ("request body: JSON parse (simdjson)", ("simdjson", "parse_openai_request")),
    ("picking: prompt hash", ("hash_prompt_blocks", "XXH64", "XXH3")),
    ("picking: prefix index", ("PrefixIndex", "BlockTable", "EndpointLru")),
    ("picking: candidates, scorers, picker", ("ProfileSession", "SchedulingProfile", "scheduling::",
                                              "CycleState")),
    ("response: SSE events skimmed and rewritten", ("skim_response_json", "Skimmer",
                                                    "EventStreamScanner", "relay_events",
                                                    "append_with_model")),
    ("HTTP heads (http1)", ("http1::",)),
    ("gateway: access log and request metrics", ("AccessLog", "access_log_line", "LineWriter",
                                                 "RequestMetrics", "Accounting",
                                                 "RequestPhases::account", "FlowTimings",
                                                 "SchedulerLatency", "PrefixMatchMetrics")),
    ("gateway: admission (flow control)", ("flowcontrol::", "RequestPhases::admit")),
    ("gateway: request id and trace context", ("new_request_id", "new_traceparent",
                                               "fill_request_ids", "RequestIds")),
    ("gateway: upstream request (model rewritten, headers)", ("prepare_upstream_request",
                                                              "UpstreamRequest")),
    ("allocation", ("malloc", "_int_free", "cfree", "unlink_chunk", "operator new", "aligned_new",
                    "aligned_delete", "operator delete", "tc_new", "tc_delete", "tc_free",
                    "tcmalloc::")),
    ("clock reads", ("clock_gettime", "steady_clock::now", "SteadyClock::now")),
]

# The categories above that are the gateway's own work (nginx and HAProxy do none of it).
OWN_WORK = ("request body", "picking", "response", "gateway")

# What no rule above claims runs under Asio's loop (every stack does): sorted by the function the
# sample was taken in, the leaf. Asio's scheduler, reactor, handlers and coroutine frames; the
# front end's HTTP/1.1 connection handling and the upstream exchange (what a proxy's event loop
# does too); the gateway's request phases (routing, attempts, the request-control hooks and
# their glue, which a byte proxy has no counterpart of); library code (strings, hash tables)
# called from any of them.
LEAF_RULES = [
    ("runtime: Asio and coroutines (scheduler, reactor, frames)", ("boost::asio", "boost::system",
                                                                    "coroutine_handle",
                                                                    "awaitable", "__n4861")),
    ("runtime: front end and upstream exchange (HTTP/1.1 connections)", (
        "HttpFrontend", "InputBuffer", "DeadlineQueue", "PooledExchange", "PooledUpstreamClient",
        "ClientResponse", "UpstreamConnection", "Gateway::start")),
    ("gateway: request phases (routing, attempts, hooks)", ("infergate::",)),
]


def category(frames):
    stack = " ".join(frames)
    leaf = frames[0] if frames else ""
    for name, needles in RULES[:2]:
        if any(n in stack for n in needles):
            return name
    if "memmove" in leaf or "memcpy" in leaf or "memset" in leaf:
        # A copy the gateway's own work makes is that work's (a body copied with padding for
        # the JSON parser, on its own line); the rest moves bytes as a proxy does.
        if "parse_openai_request" in stack:
            return "request body: copied for the JSON parser (padding)"
        for name, needles in RULES[2:]:
            if name.startswith(OWN_WORK) and any(n in stack for n in needles):
                return name
        return "copies (memcpy)"
    for name, needles in RULES[2:]:
        if any(n in stack for n in needles):
            return name
    if "[kernel" in stack or "kallsyms" in stack:
        return "kernel (other)"
    if "boost::asio" in stack or "coroutine" in stack:
        for name, needles in LEAF_RULES:
            if any(n in leaf for n in needles):
                return name
        return "runtime: library code (strings, hash tables)"
    return "other"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-u", "--us-per-request", type=float, default=0.0)
    args = parser.parse_args()
    counts = collections.Counter()
    for sample in sys.stdin.read().split("\n\n"):
        if sample.strip():
            counts[category(frames_of(sample))] += 1
    total = sum(counts.values()) or 1
    for name, n in counts.most_common():
        cost = f"{args.us_per_request * n / total:7.2f} us" if args.us_per_request else ""
        print(f"{100.0 * n / total:6.1f} %  {cost}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
