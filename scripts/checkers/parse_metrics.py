#!/usr/bin/env python3
"""Parses a Prometheus text exposition from stdin with prometheus_client's own parser and prints
every sample as JSON: [{"family": ..., "type": ..., "name": ..., "labels": {...}, "value": ...}].
Exits 1 (with the parser's error) when the text does not parse."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

try:
    samples = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        for sample in family.samples:
            samples.append({"family": family.name, "type": family.type, "name": sample.name,
                            "labels": sample.labels, "value": sample.value})
    print(json.dumps(samples))
except Exception as error:  # a parse failure is the failed check
    print(f"does not parse: {error!r}", file=sys.stderr)
    sys.exit(1)
