#!/usr/bin/env python3
"""The secrets sweep, run by scripts/test after the whole Swift suite.

The tests record every secret they hand the server (SECRET_SWEEP_DIR/secrets.txt, one per line) and
everything the server said back (SECRET_SWEEP_DIR/said.txt: log lines, response heads and bodies,
alerts received by the Sentry listener, the output of `app` commands, each after a `--- <source>`
line). Fails when any secret appears in what was said, naming where, never printing the secret.
"""
import hashlib
import sys
from pathlib import Path


def main(folder):
    folder = Path(folder)
    secrets = [s for s in (folder / "secrets.txt").read_text().splitlines() if s]
    said = (folder / "said.txt").read_text(errors="replace")
    sources = said.count("\n--- ") + said.startswith("--- ")
    if len(secrets) < 3 or sources < 1000:
        print(f"secrets sweep: too little recorded ({len(secrets)} secrets, {sources} outputs): was it wired?")
        return 1
    hits = []
    for secret in secrets:
        start = 0
        while (at := said.find(secret, start)) != -1:
            source = said.rfind("\n--- ", 0, at)
            where = said[source + 5: said.find("\n", source + 5)] if source != -1 else "?"
            for other in secrets:
                where = where.replace(other, "<secret>")
            fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:8]
            hits.append(f"a secret ({len(secret)} characters, SHA-256 {fingerprint}…) in: {where}")
            start = at + len(secret)
    print(f"secrets sweep: {len(secrets)} secrets searched in {sources} outputs ({len(said)} bytes): {len(hits)} found")
    for hit in hits[:20]:
        print("  " + hit)
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
