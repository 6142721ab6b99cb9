#!/usr/bin/env python3
"""Independent session-token vectors, made without our code: HKDF from `cryptography`, JWE from `joserfc`.

  session_vectors.py make > Tests/AppTests/Fixtures/session-vectors.json
      writes the committed fixtures (fixed secrets, expiry in 2100).
  session_vectors.py decode FORMAT SALT SECRET TOKEN
      decodes one of our tokens and prints its claims as JSON; exits 1 when it does not decode.
  session_vectors.py encode FORMAT SALT SECRET CLAIMS_JSON
      prints a token for CLAIMS_JSON as the library writes it (v4: A256GCM; v5: A256CBC-HS512 with kid).
"""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import jwe
from joserfc.jwk import OctKey


def v4_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"",
                info=b"NextAuth.js Generated Encryption Key").derive(secret.encode())


def v5_key(secret: str, salt: str, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt.encode(),
                info=f"Auth.js Generated Encryption Key ({salt})".encode()).derive(secret.encode())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(raw: bytes) -> str:
    """RFC 7638 thumbprint of an oct JWK, hashed with SHA-(key bits) as Auth.js does."""
    jwk = json.dumps({"k": b64url(raw), "kty": "oct"}, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.new(f"sha{len(raw) * 8}", jwk).digest())


CLAIMS = {"name": "Ada Lovelace", "email": "ada@example.com", "picture": "https://example.com/ada.png",
          "sub": "user-1", "iat": 1700000000, "exp": 4102444800, "jti": "0f6c1c0e-7e1b-4c55-9b0b-5d0e8f7a1b2c"}


def make():
    secret = "vector-secret-for-tests-only"
    vectors = {"secret": secret, "claims": CLAIMS, "tokens": []}
    payload = json.dumps(CLAIMS).encode()
    key = OctKey.import_key(v4_key(secret))
    vectors["tokens"].append({"format": "v4", "salt": "", "enc": "A256GCM",
                              "token": jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, payload, key)})
    for salt in ["authjs.session-token", "__Secure-authjs.session-token"]:
        raw64 = v5_key(secret, salt, 64)
        key64 = OctKey.import_key(raw64)
        header = {"alg": "dir", "enc": "A256CBC-HS512", "kid": thumbprint(raw64)}
        vectors["tokens"].append({"format": "v5", "salt": salt, "enc": "A256CBC-HS512",
                                  "token": jwe.encrypt_compact(header, payload, key64)})
        key32 = OctKey.import_key(v5_key(secret, salt, 32))
        vectors["tokens"].append({"format": "v5", "salt": salt, "enc": "A256GCM",
                                  "token": jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, payload, key32)})
    vectors["hkdf"] = {"v4_secret_secret": v4_key("secret").hex(),
                       "v5_secret_authjs_session_token": v5_key("secret", "authjs.session-token", 64).hex()}
    print(json.dumps(vectors, indent=2))


def decode(fmt, salt, secret, token):
    first = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    enc = header["enc"]
    if fmt == "v4":
        raw = v4_key(secret)
    else:
        raw = v5_key(secret, salt, 64 if enc == "A256CBC-HS512" else 32)
    key = OctKey.import_key(raw)
    if fmt == "v5" and "kid" in header and header["kid"] != thumbprint(raw):
        print("kid does not match the derived key", file=sys.stderr)
        sys.exit(1)
    obj = jwe.decrypt_compact(token, key)
    print(json.dumps({"header": header, "claims": json.loads(obj.plaintext)}))


def encode(fmt, salt, secret, claims_json):
    payload = claims_json.encode()
    if fmt == "v4":
        print(jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, payload, OctKey.import_key(v4_key(secret))))
    else:
        raw = v5_key(secret, salt, 64)
        header = {"alg": "dir", "enc": "A256CBC-HS512", "kid": thumbprint(raw)}
        print(jwe.encrypt_compact(header, payload, OctKey.import_key(raw)))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make()
    elif sys.argv[1] == "encode":
        encode(*sys.argv[2:6])
    elif sys.argv[1] == "decode":
        try:
            decode(*sys.argv[2:6])
        except SystemExit:
            raise
        except Exception as error:  # any failure to decode is a failed check
            print(f"decode failed: {error!r}", file=sys.stderr)
            sys.exit(1)
