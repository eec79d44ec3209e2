"""Whether a request input leaves the data grammar for an interpreter's: a small
lexical measure over one decoded value (a query-string parameter, a header a server
interprets).

A value a form or a link sends is data: words, numbers, punctuation inside them. An
injection is a value that closes the data context and continues in the language of
whatever reads it next. Each of the five escapes below is one such step, counted once
per value (the measure is how many distinct escapes the value makes, 0..5):

  sql     a quote (' or ") followed, after optional spaces and closing parentheses, by
          an SQL operator token: and, or, union, select, order by, group by, having,
          =, --, #, ;, /*, || (the string it closed is followed by query syntax, as in
          "1' and 1=1#"); a quote inside a word ("don't", "O'Reilly") is followed by
          letters that are not an operator.
  markup  an HTML tag (<, a letter or /, a name, then >), an event handler attribute
          (on + 3 or more letters, then =) or a javascript: URL.
  expr    an expression-language opening ${ #{ %{ followed by a closing } (log4j
          lookups, OGNL, Spring/EL).
  path    a run of two or more ../ or ..\\ (a traversal out of the served folder; one
          ../ is an ordinary relative link).
  shell   a command separator (; | && ` $( or a newline) followed, after optional
          spaces, by a command word that reads or fetches from the system (SHELL_WORDS).

Decoding: percent-escapes (twice, so a double-encoded %2527 is seen), '+' as space in
query strings. Cost: a few regular-expression scans of values that are at most the
HTTP room's kept field (768 bytes of URI, 256 of a header), only for requests.
"""
from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

#: the commands a shell injection runs first, to see or fetch (a word after a
#: separator that is none of these is data: "a;b", "rock|pop")
SHELL_WORDS = ("id", "whoami", "uname", "cat", "ls", "dir", "type", "wget", "curl",
               "nc", "ncat", "bash", "sh", "cmd", "powershell", "ping", "nslookup",
               "echo", "sleep", "python", "perl", "net", "ipconfig", "ifconfig")
#: SQL tokens that may follow a closed string literal
SQL_TOKENS = r"and\b|or\b|union\b|select\b|order\s+by\b|group\s+by\b|having\b|=|--|#|;|/\*|\|\|"

ESCAPES = (
    ("sql", re.compile(rb"""['"][\s)]*(?:""" + SQL_TOKENS.encode() + rb")", re.I)),
    ("markup", re.compile(rb"<[a-z/!][a-z0-9]*[^<>]*>|\bon[a-z]{3,}\s*=|javascript:",
                          re.I)),
    ("expr", re.compile(rb"[$#%]\{[^{}]*\}")),
    ("path", re.compile(rb"(?:\.\.[/\\]){2,}")),
    ("shell", re.compile(rb"(?:;|\||&&|`|\$\(|\n)\s*(?:"
                         + "|".join(SHELL_WORDS).encode() + rb")\b", re.I)),
)
NAMES = tuple(name for name, _ in ESCAPES)


def decode(value: bytes, plus: bool = True) -> bytes:
    """A value as its reader sees it: '+' as space (query strings only, plus=True),
    percent-escapes undone twice."""
    if plus:
        value = value.replace(b"+", b" ")
    return unquote_to_bytes(unquote_to_bytes(value))


def escapes(value: bytes) -> tuple[str, ...]:
    """The escapes (NAMES) a decoded value makes, in NAMES order; () for data."""
    return tuple(name for name, pattern in ESCAPES if pattern.search(value))


def query_inputs(uri: bytes) -> list[tuple[bytes, bytes]]:
    """A request URI's path (no query) and its query parameters as (name, decoded
    value) pairs; a parameter without '=' has an empty name (its text is the value)."""
    _, _, query = uri.partition(b"?")
    out = []
    for part in query.split(b"&"):
        if not part:
            continue
        name, eq, value = part.partition(b"=")
        out.append((decode(name), decode(value)) if eq else (b"", decode(name)))
    return out


def path_of(uri: bytes) -> bytes:
    """A request URI without its query string (and fragment)."""
    return uri.split(b"?", 1)[0].split(b"#", 1)[0]
