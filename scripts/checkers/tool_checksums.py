#!/usr/bin/env python3
"""Prints, as JSON, the checksum each migration tool keeps for each migration of a folder, computed here
from the tools' own rules and nothing of the server's code:
  prisma  SHA-256 hex of <dir>/migration.sql as written (prisma-engines' checksum module)
  flyway  CRC32 over the lines, without line endings, the first without a byte order mark, as a
          signed 32-bit integer (Flyway's ChecksumCalculator)
  drizzle SHA-256 hex of <tag>.sql as written (drizzle-orm's migrator)
  golang-migrate  none: an empty string for each <version>_<title>.up.sql
  goose   none: an empty string for each <version>_<name>.sql
  diesel  none: an empty string for each <version>_<name>/ holding up.sql
  sqlx    SHA-384 hex of each <version>_<description>.sql or .up.sql as written (sqlx-core's migrate::source)
Usage: tool_checksums.py FORMAT FOLDER"""
import hashlib, json, os, re, sys, zlib

def flyway(data):
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    crc = 0
    for line in re.split(r"\r\n|\r|\n", text):
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= (1 << 31) else crc

def main(fmt, folder):
    out = {}
    if fmt == "prisma":
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name, "migration.sql")
            if os.path.isfile(path):
                out[name] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    elif fmt == "flyway":
        for name in sorted(os.listdir(folder)):
            if name.startswith("V") and name.endswith(".sql"):
                out[name[:-4]] = str(flyway(open(os.path.join(folder, name), "rb").read()))
    elif fmt == "drizzle":
        journal = json.load(open(os.path.join(folder, "meta", "_journal.json")))
        for entry in journal["entries"]:
            out[entry["tag"]] = hashlib.sha256(open(os.path.join(folder, entry["tag"] + ".sql"), "rb").read()).hexdigest()
    elif fmt == "golang-migrate":
        for name in sorted(os.listdir(folder)):
            if name.endswith(".up.sql"):
                out[name[:-7]] = ""
    elif fmt == "sqlx":
        for name in sorted(os.listdir(folder)):
            if name.endswith(".sql") and not name.endswith(".down.sql"):
                stem = name[:-7] if name.endswith(".up.sql") else name[:-4]
                out[stem] = hashlib.sha384(open(os.path.join(folder, name), "rb").read()).hexdigest()
    elif fmt == "diesel":
        for name in sorted(os.listdir(folder)):
            if os.path.isfile(os.path.join(folder, name, "up.sql")):
                out[name] = ""
    elif fmt == "goose":
        for name in sorted(os.listdir(folder)):
            if name.endswith(".sql"):
                out[name[:-4]] = ""
    else:
        sys.exit("unknown format " + fmt)
    print(json.dumps(out, sort_keys=True))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
