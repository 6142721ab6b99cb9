#!/usr/bin/env python3
"""Bad requests, over real sockets, to a live `app serve`: seeded and reproducible.

  fuzz_requests.py HOST PORT SEED COUNT SECRET

SECRET is the server's MIGRATION_SECRET: it is only ever sent where it must not count (the query
string, the body, a malformed header), so no request may be authorised. Prints one JSON object:
{"sent": N, "answers": {status: count}, "closed": n, "violations": [first 20]} and exits 1 when there
is a violation: a 5xx, an answer outside the documented ones, a 200 from /api/migrate, or no answer
to a well-formed request.
"""
import json
import random
import socket
import sys

ALLOWED = {200, 202, 400, 401, 404, 405, 413, 414, 417, 431}
PATHS = ["/api/migrate", "/api/migrate/", "/api//migrate", "/API/MIGRATE", "/api/%6Digrate", "/%61pi/migrate",
         "/api/migrate/../migrate", "/api/./migrate", "/api/migrate?dryRun=1", "/api/migrate/runs/x",
         "/healthz", "/livez", "/api/auth/session", "/", "/nope"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "post", "FOO"]


def authorization(rng, secret):
    """(header values, well-formed?) for one request."""
    choice = rng.randrange(14)
    token = "".join(rng.choice("abcdef0123456789") for _ in range(rng.randrange(1, 80)))
    if choice == 0: return [""], True
    if choice == 1: return ["Bearer"], True
    if choice == 2: return ["Basic dXNlcjpwYXNz"], True
    if choice == 3: return ["Bearer\t" + token], True
    if choice == 4: return ["Bearer" + " " * rng.randrange(2, 40) + token], True
    if choice == 5: return [rng.choice(["bEaReR ", "BEARER ", "bearer "]) + token], True
    if choice == 6: return ["Bearer " + token + rng.choice(['"', "(", ",", ";", "@", "{", "\\"])], True
    if choice == 7: return ["Bearer " + token[:5] + "\x00" + token], False
    if choice == 8: return ["Bearer " + token + "\xe9\xff"], False
    if choice == 9: return ["Bearer " + "a" * rng.choice([1, 100, 4096, 16384, 65536])], True
    if choice == 10: return ["Bearer " + token, "Bearer " + token], True
    if choice == 11: return ["Bearer " + secret + " extra"], True
    if choice == 12: return ["Token " + secret], True
    return [], True


def request(rng, secret):
    """(bytes to send, how to send them, path, well-formed?)"""
    method = rng.choice(METHODS)
    path = rng.choice(PATHS)
    version = "HTTP/1.0" if rng.random() < 0.1 else "HTTP/1.1"
    auths, well_formed = authorization(rng, secret)
    if method in ("FOO", "post"):
        well_formed = False
    if rng.random() < 0.1:
        path += ("&" if "?" in path else "?") + rng.choice(["access_token=", "token=", "secret="]) + secret
    headers = [("Host", "127.0.0.1"), ("Connection", "close")]
    headers += [("Authorization", value) for value in auths]
    body = b""
    mode = "whole"
    kind = rng.randrange(10)
    if kind == 0:
        body = json.dumps({"token": secret, "access_token": secret}).encode()
        headers.append(("Content-Type", "application/json"))
    elif kind == 1:
        body = b"x" * rng.choice([17 * 1024, 1024 * 1024])
    elif kind == 2:
        mode = "chunked"
        body = b"chunk" * rng.randrange(1, 2000)
    elif kind == 3:
        mode = "truncated"
        body = b"y" * 100
    elif kind == 4:
        mode = "slow"
    elif kind == 5:
        headers.append(("Expect", "100-continue"))
        body = b"{}"
    elif kind == 6:
        mode = "pipelined"
    if mode == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    elif mode == "truncated":
        headers.append(("Content-Length", str(len(body) + 1000)))
        well_formed = False
    elif body:
        headers.append(("Content-Length", str(len(body))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    head_bytes = head.encode("latin-1")
    if mode == "chunked":
        payload = b""
        for i in range(0, len(body), 4096):
            part = body[i:i + 4096]
            payload += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        payload += b"0\r\n\r\n"
        return head_bytes + payload, mode, path, well_formed
    if mode == "pipelined":
        second = head.replace("Connection: close", "Connection: keep-alive").encode("latin-1")
        return second + head_bytes, mode, path, well_formed
    if mode == "slow":
        return head_bytes[: max(1, len(head_bytes) // 2)], mode, path, False
    return head_bytes + body, mode, path, well_formed


def statuses(data):
    out = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"HTTP/1."):
            parts = line.split(b" ")
            if len(parts) >= 2 and parts[1].isdigit():
                out.append(int(parts[1]))
    return out


def send(host, port, payload, mode):
    with socket.create_connection((host, port), timeout=10) as s:
        try:
            s.sendall(payload)
            if mode in ("truncated", "slow"):
                s.settimeout(0.3)
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    return data


def check(n, path, mode, payload, well_formed, data, answers, violations):
    got = statuses(data)
    if not got:
        if well_formed and mode not in ("truncated", "slow"):
            violations.append(f"#{n}: no answer to a well-formed {mode} request to {path}")
        return 1
    for status in got:
        answers[status] = answers.get(status, 0) + 1
        migrate = path.lower().split("?")[0].startswith("/api/migrate") or path.startswith("/api//")
        if status >= 500 or status not in ALLOWED or (status == 200 and migrate and "runs" not in path):
            violations.append(f"#{n}: {status} for {mode} {payload[:60]!r}")
    return 0


def main(host, port, seed, count, secret):
    """Requests are made in order from the seed, sent 16 at a time; while they run, 50 connections
    hold a request that never finishes."""
    from concurrent.futures import ThreadPoolExecutor
    rng = random.Random(seed)
    planned = [request(rng, secret) for _ in range(count)]
    held = []
    for _ in range(50):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"POST /api/migrate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
        held.append(s)

    def one(item):
        n, (payload, mode, path, well_formed) = item
        try:
            return n, path, mode, payload, well_formed, send(host, int(port), payload, mode), None
        except OSError as error:
            return n, path, mode, payload, well_formed, b"", error

    answers, closed, violations = {}, 0, []
    with ThreadPoolExecutor(max_workers=16) as pool:
        for n, path, mode, payload, well_formed, data, error in pool.map(one, enumerate(planned)):
            if error:
                violations.append(f"#{n}: connection failed: {error}")
                continue
            closed += check(n, path, mode, payload, well_formed, data, answers, violations)
    for s in held:
        s.close()
    print(json.dumps({"sent": count, "answers": answers, "closed": closed, "violations": violations[:20],
                      "violationCount": len(violations)}))
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
