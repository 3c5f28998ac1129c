"""Verify Clerk JWT-template tokens the way a Python service would, with a plain JWT library.

Reads {"jwks_url", "issuer", "tokens": [...]} as JSON on stdin; fetches the instance's JWKS
(the Frontend API's /.well-known/jwks.json) with PyJWT's PyJWKClient, then verifies each token:
RS256 only, the key chosen by `kid`, `exp`/`nbf`/`iat` required and checked with Clerk's 5 s
leeway, the issuer. Prints [{"ok": true, "claims": {...}} | {"ok": false, "error": "<class>"}].
"""

import json
import sys

import jwt

req = json.load(sys.stdin)
jwks = jwt.PyJWKClient(req["jwks_url"], cache_keys=True)
out = []
for token in req["tokens"]:
    try:
        key = jwks.get_signing_key_from_jwt(token).key
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=req["issuer"],
            leeway=5,
            options={"require": ["exp", "iat", "nbf", "sub", "iss"], "verify_aud": False},
        )
        out.append({"ok": True, "claims": claims})
    except jwt.PyJWTError as e:
        out.append({"ok": False, "error": type(e).__name__})
json.dump(out, sys.stdout)
