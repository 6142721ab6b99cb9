#!/usr/bin/env python3
"""Parses a recorded Sentry envelope with the official SDK's parser and prints what it found as JSON.

Usage: check_envelope.py FILE. Exits non-zero when the SDK cannot parse the bytes.
The tests compare this output with what our client meant to send.
"""
import json
import sys

from sentry_sdk.envelope import Envelope

with open(sys.argv[1], "rb") as f:
    raw = f.read()
envelope = Envelope.deserialize(raw)
items = []
for item in envelope.items:
    payload = item.payload.json if item.payload.json is not None else None
    items.append({"headers": item.headers, "type": item.type, "payload": payload,
                  "length_matches": item.headers.get("length") == len(item.payload.get_bytes())})
print(json.dumps({"headers": envelope.headers, "items": items}))
