#!/usr/bin/env python3
"""Test certificates, made with Python's `cryptography` (no code of ours):

  tls_certs.py make DIR
      DIR/root.pem          a root CA (the clients trust it alone)
      DIR/one.pem           server certificate "one" for 127.0.0.1 and localhost, then the intermediate
                            that signed it (a chain: leaf first)
      DIR/one.key           its key (PKCS#8 PEM, unencrypted)
      DIR/two.pem, two.key  a second server certificate, "two", the same way
      DIR/other.key         a key that belongs to neither certificate
  tls_certs.py get HOST PORT CAFILE VERSION
      connects with TLS VERSION (1.2 or 1.3), verifying the chain against CAFILE and the host name,
      sends GET /livez, and prints {"subject": CN, "version": ..., "status": ...} as JSON.
  tls_certs.py reload HOST PORT CAFILE PID
      opens a connection and asks once, sends SIGHUP to PID, asks again on the same connection and
      then on a new one; prints {"before": CN, "same": status, "after": CN} as JSON.
"""
import datetime
import json
import socket
import ssl
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def cert(subject, subject_key, issuer, issuer_key, ca, sans=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
               .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)


def key_pem(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make(directory):
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = cert("Test Root", root_key, "Test Root", root_key, ca=True)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = cert("Test Intermediate", inter_key, "Test Root", root_key, ca=True)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    with open(f"{directory}/root.pem", "wb") as f:
        f.write(pem(root))
    for label in ["one", "two"]:
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = cert(label, key, "Test Intermediate", inter_key, ca=False, sans=sans)
        with open(f"{directory}/{label}.pem", "wb") as f:
            f.write(pem(leaf) + pem(inter))
        with open(f"{directory}/{label}.key", "wb") as f:
            f.write(key_pem(key))
    with open(f"{directory}/other.key", "wb") as f:
        f.write(key_pem(ec.generate_private_key(ec.SECP256R1())))


def connect(host, port, cafile, version=None):
    context = ssl.create_default_context(cafile=cafile)
    if version:
        wanted = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
        context.minimum_version = wanted
        context.maximum_version = wanted
    raw = socket.create_connection((host, int(port)), timeout=10)
    return context.wrap_socket(raw, server_hostname=host)


def subject(tls):
    return dict(item[0] for item in tls.getpeercert()["subject"])["commonName"]


def ask(tls, host, close):
    """One GET /livez on an open connection; its status (the body is a small JSON object)."""
    connection = "close" if close else "keep-alive"
    tls.sendall(f"GET /livez HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = tls.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def get(host, port, cafile, version):
    with connect(host, port, cafile, version) as tls:
        status = ask(tls, host, close=True)
        print(json.dumps({"subject": subject(tls), "version": tls.version(), "status": status}))


def reload(host, port, cafile, pid):
    import os, signal, time
    with connect(host, port, cafile) as tls:
        before = subject(tls)
        ask(tls, host, close=False)
        os.kill(int(pid), signal.SIGHUP)
        time.sleep(1)
        same = ask(tls, host, close=False)
    with connect(host, port, cafile) as tls:
        after = subject(tls)
    print(json.dumps({"before": before, "same": same, "after": after}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] in ("get", "reload"):
        try:
            (get if sys.argv[1] == "get" else reload)(*sys.argv[2:6])
        except (ssl.SSLError, OSError) as error:
            print(f"connection failed: {error}", file=sys.stderr)
            sys.exit(1)
