#!/usr/bin/env python3
"""Prints, as JSON, the checksum each migration tool keeps for each migration of a folder, computed here
from the tools' own rules and nothing of the server's code:
  prisma  SHA-256 hex of <dir>/migration.sql as written (prisma-engines' checksum module)
  flyway  CRC32 over the lines, without line endings, the first without a byte order mark, as a
          signed 32-bit integer (Flyway's ChecksumCalculator)
  drizzle SHA-256 hex of <tag>.sql as written (drizzle-orm's migrator)
  golang-migrate  none: an empty string for each <version>_<title>.up.sql
  goose   none: an empty string for each <version>_<name>.sql
  atlas   each file's entry in atlas.sum: a running SHA-256 over each .sql file's name and bytes in name
          order, base64 (ariga/atlas sql/migrate HashFile); with --sum-file, the whole atlas.sum
  diesel  none: an empty string for each <version>_<name>/ holding up.sql
  sqlx    SHA-384 hex of each <version>_<description>.sql or .up.sql as written (sqlx-core's migrate::source)
Usage: tool_checksums.py FORMAT FOLDER [--sum-file]"""
import base64, hashlib, json, os, re, sys, zlib

def atlas_entries(folder):
    running = hashlib.sha256()
    entries = []
    for name in sorted(n for n in os.listdir(folder) if n.endswith(".sql")):
        data = open(os.path.join(folder, name), "rb").read()
        running.update(name.encode())
        first = re.match(rb"[ -~]*", data).group(0)
        if re.search(rb"atlas:sum ignore", first):
            continue
        running.update(data)
        entries.append((name, base64.b64encode(running.digest()).decode()))
    return entries

def atlas_sum_file(folder):
    entries = atlas_entries(folder)
    total = hashlib.sha256(b"".join(n.encode() + h.encode() for n, h in entries)).digest()
    return "h1:" + base64.b64encode(total).decode() + "\n" + "".join(f"{n} h1:{h}\n" for n, h in entries)

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
    elif fmt == "atlas":
        for name, hash in atlas_entries(folder):
            out[name[:-4]] = hash
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
    if sys.argv[1] == "atlas" and sys.argv[3:] == ["--sum-file"]:
        sys.stdout.write(atlas_sum_file(sys.argv[2]))
    else:
        main(sys.argv[1], sys.argv[2])
