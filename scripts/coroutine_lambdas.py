#!/usr/bin/env python3
"""Refuses a capturing lambda made in the same full-expression as a co_await.

GCC 12 miscompiles such a statement: the lambda's captures are destroyed once more than they
were made, so a captured shared_ptr gives up a reference it never took (an object freed while
still in use). For example `co_spawn(co_await this_coro::executor, f(), [keep = p](auto) {})`
frees `*p` early; awaiting the executor into a local first is correct. Plain temporaries (a
string, an executor) are not affected.

Exits 1 listing each such lambda under src/, apps/, tests/ and bench/. The scan is lexical:
comments and string literals are blanked first; a statement runs from the previous `;`, `{`
or `}` to the next `;` outside brackets.
Usage: scripts/coroutine_lambdas.py
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FOLDERS = ("src", "apps", "tests", "bench")
# A lambda's introducer with something captured, then its parameters and specifiers, then `{`.
LAMBDA = re.compile(
    r"\[([^\[\]]*[^\[\]\s][^\[\]]*)\]\s*(?:\([^()]*(?:\([^()]*\)[^()]*)*\))?\s*"
    r"(?:mutable\s*)?(?:noexcept\s*)?(?:->\s*[\w:<>,\s*&]+?\s*)?\{"
)
BLANK = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def blanked(text):
    """The text with comments and literals replaced by spaces (offsets and lines kept)."""
    return BLANK.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def statement_start(s, at):
    depth = 0
    i = at - 1
    while i >= 0:
        c = s[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            depth -= 1
        elif c in ";{}" and depth <= 0:
            return i + 1
        i -= 1
    return 0


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


def statement_end(s, at):
    parens = braces = 0
    for i in range(at, len(s)):
        c = s[i]
        if c in "([":
            parens += 1
        elif c in ")]":
            parens -= 1
        elif c == "{":
            braces += 1
        elif c == "}":
            braces -= 1
            if braces < 0:
                return i
        elif c == ";" and parens <= 0 and braces <= 0:
            return i
    return len(s)


def findings(path):
    s = blanked(path.read_text())
    for m in LAMBDA.finditer(s):
        body = m.end() - 1
        start = statement_start(s, m.start())
        end = statement_end(s, start)
        # The rest of the statement: before the lambda, and after its body.
        rest = s[start : m.start()] + " " + s[matching_brace(s, body) + 1 : end]
        if re.search(r"\bco_await\b", rest):
            yield s.count("\n", 0, m.start()) + 1, m.group(1).strip()


def main():
    bad = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".cpp", ".hpp") and path.is_file():
                for line, captures in findings(path):
                    bad.append(f"{path.relative_to(ROOT)}:{line}: lambda [{captures}] in a "
                               "statement with co_await (GCC 12 destroys its captures twice); "
                               "make it, or the awaited value, a local first")
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
