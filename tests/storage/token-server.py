#!/usr/bin/env python3
"""token-server.py PORT KEY CERT LOG: the token endpoint of registry token
authentication (docker distribution's "token" auth): GET ?service=&scope=
answers {"token": JWT} signed RS256 with KEY, its certificate CERT in the
x5c header, granting what the scopes ask. Each request's query is appended to
LOG as JSON. Signing uses the openssl command line (no Python crypto module
needed)."""
import base64, json, subprocess, sys, time, http.server, urllib.parse
port, key, cert, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        with open(log, "a") as f:
            f.write(json.dumps(q) + "\n")
        access = []
        for s in q.get("scope", []):
            t, name, actions = s.split(":")
            access.append({"type": t, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        hdr = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        claims = {"iss": "nook-test-issuer", "sub": "", "aud": q.get("service", [""])[0],
                  "exp": now + 3600, "nbf": now - 60, "iat": now - 60, "jti": str(now), "access": access}
        signing = (b64(json.dumps(hdr).encode()) + "." + b64(json.dumps(claims).encode())).encode()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing, capture_output=True, check=True).stdout
        tok = signing.decode() + "." + b64(sig)
        body = json.dumps({"token": tok}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
