#!/usr/bin/env python3
"""Cold start, for scripts/bench: starts a server ROUNDS times and prints the median time, in ms, from
the exec to the first answer (any status) to POST /api/migrate on 127.0.0.1:PORT.

usage: cold_start.py ROUNDS PORT COMMAND... (the environment is passed through; the working directory
is a fresh temp folder each round, so an SQLite database starts empty)
"""
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time


def once(port, command):
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    connection.request("POST", "/api/migrate")
                    connection.getresponse().read()
                    return (time.perf_counter() - started) * 1000
                except OSError:
                    if process.poll() is not None:
                        raise SystemExit(f"{command[0]} exited with {process.returncode} before answering")
                    time.sleep(0.0005)
        finally:
            process.terminate()
            process.wait()


def main():
    rounds, port, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    times = [once(port, command) for _ in range(rounds)]
    print(f"{statistics.median(times):.1f}")


if __name__ == "__main__":
    main()
