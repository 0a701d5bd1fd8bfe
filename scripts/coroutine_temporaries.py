#!/usr/bin/env python3
"""Refuses a lambda or a braced temporary made in the same full-expression as a co_await.

GCC 12 miscompiles such an expression: an aggregate temporary (`Head{...}`, `f({...})`) or a
lambda's closure is destroyed twice, members and captures included, so a captured shared_ptr
gives up a reference it never took and a string or vector member is freed twice. For example
`co_spawn(co_await this_coro::executor, f(), [keep = p](auto) {})` frees `*p` early. A
temporary made by a constructor of a class that is not an aggregate (`std::string(...)`) is not
affected. Make the temporary, or the awaited value, a local first.

Not seen: a parenthesised aggregate (C++20's `Agg(x)`, destroyed twice too: it reads like a
constructor call), an aggregate default argument, and what a macro hides.

Exits 1 listing each one under src/, apps/, tests/ and bench/. The scan is lexical: comments
and literals are blanked first; a co_await's full-expression runs from the previous `;`, or
`{` or `}` of a block, outside brackets (or from the `(` of an if, while, for or switch
condition) to the next `;` outside brackets (or the condition's `)`). Inside it, a `{` that
does not open a lambda's body opens a braced temporary. A lambda that captures nothing is
allowed (nothing to destroy).
Usage: scripts/coroutine_temporaries.py
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ("src", "apps", "tests", "bench")
# A lambda's introducer, its parameters and specifiers, then `{` (group 1: the captures).
LAMBDA = re.compile(
    r"\[([^\[\]]*)\]\s*(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?\s*"
    r"(?:mutable\s*)?(?:noexcept\s*)?(?:->\s*[\w:<>,\s*&]+?\s*)?\{"
)
BLANK = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)
CONDITION = re.compile(r"\b(if|while|for|switch)\s*$")


def blanked(text):
    """The text with comments and literals replaced by spaces (offsets and lines kept)."""
    return BLANK.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def matching_brace(s, at):
    depth = 0
    for i in range(at, len(s)):
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(s) - 1


def lambda_bodies(s):
    """{offset of a lambda body's `{`: (offset of its `}`, its captures)}."""
    bodies = {}
    for m in LAMBDA.finditer(s):
        # `[x] {` after an identifier or `]` is a subscript, not a lambda; `delete[]` neither.
        before = s[: m.start()].rstrip()
        if before and (before[-1].isalnum() or before[-1] in "_])") and not re.search(
            r"\b(return|co_return|co_await|throw)$", before
        ):
            continue
        body = m.end() - 1
        bodies[body] = (matching_brace(s, body), m.group(1).strip(), m.start())
    return bodies


def matching_open_brace(s, at):
    depth = 0
    for i in range(at, -1, -1):
        if s[i] == "}":
            depth += 1
        elif s[i] == "{":
            depth -= 1
            if depth == 0:
                return i
    return 0


# What comes before a `{` that opens a block (a function's, a lambda's, a statement's) rather
# than a braced initializer.
BLOCK_BEFORE = re.compile(
    r"(\)|\b(else|do|try|const|override|final|noexcept|mutable)|->\s*[\w:<>,\s*&]+?|[{};:])\s*$"
)


def opens_block(s, at, bodies):
    before = s[max(0, at - 200) : at]
    return at in bodies or not before.strip() or bool(BLOCK_BEFORE.search(before))


def full_expression(s, at, bodies):
    """The [start, end) of the full-expression around offset `at`."""
    depth = 0
    i = at - 1
    condition = False
    while i >= 0:
        c = s[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                if c == "(" and CONDITION.search(s[max(0, i - 12) : i]):
                    condition = True
                    break
            else:
                depth -= 1
        elif c == "}" and depth == 0:
            # A braced temporary or a lambda earlier in the expression (`f(T{}, co_await x)`)
            # is followed by what goes on with it; a block's end is not.
            after = s[i + 1 : i + 40].lstrip()
            if after[:1] in (",", ")", "(", ".", "[") or after.startswith("->"):
                i = matching_open_brace(s, i) - 1
                continue
            break
        elif c == "{" and depth == 0:
            if opens_block(s, i, bodies):
                break
            # else: a braced initializer around the co_await (`Agg{co_await x}`)
        elif c == ";" and depth == 0:
            break
        i -= 1
    start = i + 1
    depth = 0
    j = at
    while j < len(s):
        c = s[j]
        if c in "([":
            depth += 1
        elif c in ")]":
            if depth == 0 and condition:
                break
            depth -= 1
        elif c == "{":
            end = matching_brace(s, j)
            j = end + 1
            continue
        elif c in ";}" and depth <= 0:
            break
        j += 1
    return start, j


def findings(path):
    s = blanked(path.read_text())
    bodies = lambda_bodies(s)
    seen = set()
    for m in re.finditer(r"\bco_await\b", s):
        start, end = full_expression(s, m.start(), bodies)
        if (start, end) in seen:
            continue
        seen.add((start, end))
        i = start
        while i < end:
            if s[i] != "{":
                i += 1
                continue
            line = s.count("\n", 0, i) + 1
            if i in bodies:
                close, captures, lambda_at = bodies[i]
                # A co_await inside the body belongs to the body's own full-expressions.
                if captures and not (lambda_at < m.start() < close and m.start() > i):
                    yield line, f"lambda [{captures}]"
                i = close + 1
                continue
            yield line, "braced temporary"
            i += 1


def main():
    bad = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".cpp", ".hpp") and path.is_file():
                for line, what in sorted(findings(path)):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: {what} in a full-expression "
                               "with co_await (GCC 12 destroys it twice); make it, or the "
                               "awaited value, a local first")
    for b in dict.fromkeys(bad):  # in file and line order, once each
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
