#!/usr/bin/env python3
"""Checks our statement boundaries against each engine's own parser.

stdin: JSON [{"name", "dialect": "postgres"|"sqlite", "text", "ours": [statements]}]
stdout: JSON [{"name", "oracle": count of statements the engine sees, "problems": [text]}]

PostgreSQL: pglast (libpg_query, PostgreSQL's parser): pglast.split counts the statements, and each of
ours must parse as exactly one statement.
SQLite: sqlite3.complete_statement (SQLite's own sqlite3_complete): each of ours plus ";" must be
complete, with no earlier ";" inside it completing a statement; the file's complete pieces that hold
more than comments are counted.
"""
import json
import re
import sqlite3
import sys


def sqlite_pieces(text):
    pieces, start = [], 0
    for i, ch in enumerate(text):
        if ch == ";" and sqlite3.complete_statement(text[start:i + 1]):
            pieces.append(text[start:i + 1])
            start = i + 1
    if text[start:].strip():
        pieces.append(text[start:])
    return [p for p in pieces if has_code(p)]


def has_code(piece):
    # Only to drop comment-only pieces: removes comments outside quotes, then looks for anything left.
    out, i, n = [], 0, len(piece)
    while i < n:
        if piece.startswith("--", i):
            j = piece.find("\n", i)
            i = n if j < 0 else j
        elif piece.startswith("/*", i):
            j = piece.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif piece[i] in "'\"`[":
            close = "]" if piece[i] == "[" else piece[i]
            j = piece.find(close, i + 1)
            out.append("q")
            i = n if j < 0 else j + 1
        else:
            out.append(piece[i])
            i += 1
    return re.sub(r"[\s;]", "", "".join(out)) != ""


def check_sqlite(ours):
    problems = []
    for k, stmt in enumerate(ours):
        if not sqlite3.complete_statement(stmt + ";"):
            problems.append(f"statement {k + 1} is not complete: {stmt!r}")
        for i, ch in enumerate(stmt):
            if ch == ";" and sqlite3.complete_statement(stmt[:i + 1]):
                problems.append(f"statement {k + 1} ends early at offset {i}: {stmt!r}")
                break
    return problems


def check_postgres(ours):
    import pglast
    problems = []
    for k, stmt in enumerate(ours):
        try:
            n = len(pglast.parse_sql(stmt))
        except Exception as e:  # noqa: BLE001 - the parser's verdict is the point
            problems.append(f"statement {k + 1} does not parse alone ({e}): {stmt!r}")
            continue
        if n != 1:
            problems.append(f"statement {k + 1} holds {n} statements: {stmt!r}")
    return problems


def main():
    results = []
    for case in json.load(sys.stdin):
        text = case["text"].lstrip("\ufeff")
        if case["dialect"] == "postgres":
            import pglast
            oracle = len(pglast.split(text))
            problems = check_postgres(case["ours"])
        else:
            oracle = len(sqlite_pieces(text))
            problems = check_sqlite(case["ours"])
        results.append({"name": case["name"], "oracle": oracle, "problems": problems})
    json.dump(results, sys.stdout)


main()
