#!/usr/bin/env python3
"""Independent TLSSigAPIv2 (UserSig) implementation used to cross-check the Go
package. Standard library only, written from the algorithm description in
Tencent's UserSig (TLSSigAPIv2) documentation, not from the Go code.

Usage:
  gen_vectors.py                 print the vector file (vectors.json) to stdout
  gen_vectors.py check-go FILE   verify every Go-made ticket listed in FILE
  gen_vectors.py verify SDKAPPID KEY IDENTIFIER USERSIG NOW
                                 verify one ticket; prints the result word
                                 (ok, malformed, sdkappid_mismatch,
                                 identifier_mismatch, expired, sig_mismatch)
                                 and exits 0 only for ok
"""
import base64
import hashlib
import hmac
import json
import sys
import zlib

STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
TIM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-_"


def to_tim(s):
    return s.translate(str.maketrans(STD, TIM))


def from_tim(s):
    # Characters of the standard alphabet that the URL-safe variant replaced
    # must not appear; translate them to '!' so b64decode rejects them.
    s = s.translate(str.maketrans("+/=", "!!!"))
    return s.translate(str.maketrans(TIM, STD))


def signed_text(identifier, sdkappid, t, expire):
    return ("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n"
            % (identifier, sdkappid, t, expire))


def mac(key, identifier, sdkappid, t, expire):
    return hmac.new(key.encode(), signed_text(identifier, sdkappid, t, expire).encode(),
                    hashlib.sha256).digest()


def encode_doc(doc, level):
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return to_tim(base64.b64encode(zlib.compress(raw, level)).decode())


def make_doc(sdkappid, key, identifier, t, expire):
    return {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": t,
        "TLS.sig": base64.b64encode(mac(key, identifier, sdkappid, t, expire)).decode(),
    }


def gen(sdkappid, key, identifier, t, expire, level=6):
    return encode_doc(make_doc(sdkappid, key, identifier, t, expire), level)


def verify(sdkappid, key, identifier, sig, now):
    try:
        raw = base64.b64decode(from_tim(sig), validate=True)
        doc = json.loads(zlib.decompress(raw))
        if doc["TLS.ver"] != "2.0":
            return "malformed"
        their = base64.b64decode(doc["TLS.sig"], validate=True)
        if len(their) != 32:
            return "malformed"
        app, ident = int(doc["TLS.sdkappid"]), doc["TLS.identifier"]
        t, exp = int(doc["TLS.time"]), int(doc["TLS.expire"])
    except Exception:
        return "malformed"
    if app != sdkappid:
        return "sdkappid_mismatch"
    if ident != identifier:
        return "identifier_mismatch"
    if now > t + exp:
        return "expired"
    if not hmac.compare_digest(mac(key, ident, app, t, exp), their):
        return "sig_mismatch"
    return "ok"


KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
APP = 1400000000
T0 = 1700000000


def vector(name, sig, sdkappid, key, identifier, now, expect, made=None):
    v = {"name": name, "usersig": sig, "verify_sdkappid": sdkappid, "verify_key": key,
         "verify_identifier": identifier, "verify_now": now, "expect": expect}
    if made is not None:
        app, ident, t, exp = made
        v["made"] = {"sdkappid": app, "identifier": ident, "time": t, "expire": exp,
                     "signed_text": signed_text(ident, app, t, exp),
                     "hmac_hex": mac(key, ident, app, t, exp).hex()}
    return v


def vectors():
    out = []
    # Valid tickets at three zlib levels (the official Go library writes level
    # 0 by default; others use the default level); all must decode alike.
    for name, app, ident, exp, level in [
        ("admin-level6", APP, "administrator", 86400, 6),
        ("user-level0", APP, "xiaojun", 180 * 86400, 0),
        ("big-appid-level9", 20000000001, "user_01-abc", 3600, 9),
    ]:
        sig = gen(app, KEY, ident, T0, exp, level)
        made = (app, ident, T0, exp)
        out.append(vector(name, sig, app, KEY, ident, T0 + 1, "ok", made))
        out.append(vector(name + "-at-expiry", sig, app, KEY, ident, T0 + exp, "ok", made))
        out.append(vector(name + "-after-expiry", sig, app, KEY, ident, T0 + exp + 1, "expired", made))

    sig = gen(APP, KEY, "administrator", T0, 86400)
    out.append(vector("wrong-key", sig, APP, KEY[::-1], "administrator", T0, "sig_mismatch"))
    out.append(vector("wrong-identifier", sig, APP, KEY, "alice", T0, "identifier_mismatch"))
    out.append(vector("wrong-sdkappid", sig, APP + 1, KEY, "administrator", T0, "sdkappid_mismatch"))

    # The identifier inside the ticket is rewritten, the HMAC kept: a forgery.
    doc = make_doc(APP, KEY, "alice", T0, 86400)
    doc["TLS.identifier"] = "administrator"
    out.append(vector("forged-identifier", encode_doc(doc, 6), APP, KEY, "administrator", T0, "sig_mismatch"))
    # Expiry stretched without re-signing.
    doc = make_doc(APP, KEY, "administrator", T0, 60)
    doc["TLS.expire"] = 86400 * 3650
    out.append(vector("stretched-expire", encode_doc(doc, 6), APP, KEY, "administrator", T0 + 120, "sig_mismatch"))
    # One bit of the HMAC flipped.
    doc = make_doc(APP, KEY, "administrator", T0, 86400)
    h = bytearray(base64.b64decode(doc["TLS.sig"]))
    h[0] ^= 1
    doc["TLS.sig"] = base64.b64encode(bytes(h)).decode()
    out.append(vector("flipped-hmac-bit", encode_doc(doc, 6), APP, KEY, "administrator", T0, "sig_mismatch"))

    # Garbage of every layer.
    out.append(vector("not-base64", "this is not a ticket!", APP, KEY, "administrator", T0, "malformed"))
    out.append(vector("empty", "", APP, KEY, "administrator", T0, "malformed"))
    out.append(vector("base64-not-zlib", to_tim(base64.b64encode(b"hello world, not zlib").decode()),
                      APP, KEY, "administrator", T0, "malformed"))
    out.append(vector("zlib-not-json", to_tim(base64.b64encode(zlib.compress(b"{not json")).decode()),
                      APP, KEY, "administrator", T0, "malformed"))
    doc = make_doc(APP, KEY, "administrator", T0, 86400)
    del doc["TLS.sig"]
    out.append(vector("missing-sig", encode_doc(doc, 6), APP, KEY, "administrator", T0, "malformed"))
    doc = make_doc(APP, KEY, "administrator", T0, 86400)
    doc["TLS.ver"] = "1.0"
    out.append(vector("wrong-version", encode_doc(doc, 6), APP, KEY, "administrator", T0, "malformed"))
    # A valid ticket in the standard alphabet instead of the TIM one: find an
    # expire whose encoding needs at least one of '+', '/', '='.
    for exp in range(86400, 86400 + 1000):
        tim = gen(APP, KEY, "administrator", T0, exp)
        std = from_tim(tim)
        if any(c in std for c in "+/="):
            out.append(vector("standard-alphabet", std, APP, KEY, "administrator", T0, "malformed"))
            break
    else:
        raise SystemExit("no standard-alphabet vector found")
    # Truncated ticket.
    out.append(vector("truncated", gen(APP, KEY, "administrator", T0, 86400)[:40], APP, KEY,
                      "administrator", T0, "malformed"))

    for v in out:
        got = verify(v["verify_sdkappid"], v["verify_key"], v["verify_identifier"], v["usersig"], v["verify_now"])
        if got != v["expect"]:
            raise SystemExit("self-check failed for %s: got %s" % (v["name"], got))
    return out


def main(argv):
    if len(argv) == 1:
        json.dump({"generator": "gen_vectors.py", "vectors": vectors()}, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
        return 0
    if argv[1] == "check-go" and len(argv) == 3:
        with open(argv[2]) as f:
            items = json.load(f)["tickets"]
        bad = 0
        for it in items:
            got = verify(it["sdkappid"], it["key"], it["identifier"], it["usersig"], it["time"])
            print("%s: %s" % (it["name"], got))
            if got != "ok":
                bad += 1
        return 1 if bad or not items else 0
    if argv[1] == "verify" and len(argv) == 7:
        got = verify(int(argv[2]), argv[3], argv[4], argv[5], int(argv[6]))
        print(got)
        return 0 if got == "ok" else 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
