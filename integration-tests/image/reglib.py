"""Real registries for berth-image's tests: Debian's docker-registry started on 127.0.0.1
in one of four modes (plain HTTP, TLS with a test CA, htpasswd Basic auth, Bearer tokens
from the token server below), a pusher speaking the distribution API, and a fake registry
for what a real one refuses to hold (corrupt blobs, schema 1).

Everything listens on loopback, lives in a temporary directory, and is stopped by close().
"""
import base64, hashlib, http.server, json, os, shutil, socket, ssl, subprocess, tempfile, threading, time, urllib.error, urllib.request

SHA = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class CA:
    """A test CA and a leaf for 127.0.0.1 (CA:FALSE, SAN IP:127.0.0.1, serverAuth):
    rustls refuses a self-signed leaf used as its own CA."""

    def __init__(self, d):
        self.dir = d
        run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA",
            "-keyout", "ca.key", "-out", "ca.crt", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign,cRLSign")
        run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "leaf.key", "-out", "leaf.csr")
        with open(os.path.join(d, "leaf.ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
        run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.crt")
        self.crt = os.path.join(d, "ca.crt")
        self.leaf_crt = os.path.join(d, "leaf.crt")
        self.leaf_key = os.path.join(d, "leaf.key")


class TokenServer:
    """The Docker token protocol: GET ?service=&scope= (Basic credentials optional) ->
    {"token": RS256 JWT}, signed by a key whose certificate the registry trusts (x5c)."""

    def __init__(self, d, users, anonymous_pull=False):
        self.dir = d
        run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True)
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth token signer", "-keyout", "sign.key", "-out", "sign.crt")
        der = subprocess.run(["openssl", "x509", "-in", "sign.crt", "-outform", "DER"], cwd=d, check=True, capture_output=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.users, self.anonymous_pull = users, anonymous_pull
        self.cert = os.path.join(d, "sign.crt")
        self.requests = []
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                from urllib.parse import urlparse, parse_qs
                q = parse_qs(urlparse(self.path).query)
                user = None
                h = self.headers.get("Authorization", "")
                if h.startswith("Basic "):
                    u, _, p = base64.b64decode(h[6:]).decode().partition(":")
                    if srv.users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        self.wfile.write(b'{"details":"bad credentials"}')
                        return
                    user = u
                srv.requests.append((user, q.get("scope", [""])[0]))
                access = []
                for scope in q.get("scope", []):
                    typ, _, rest = scope.partition(":")
                    name, _, actions = rest.rpartition(":")
                    allowed = [a for a in actions.split(",") if user or (srv.anonymous_pull and a == "pull")]
                    access.append({"type": typ, "name": name, "actions": allowed})
                if not user and not srv.anonymous_pull:
                    self.send_response(401)
                    self.end_headers()
                    return
                tok = srv.sign({"iss": "berth-test-issuer", "sub": user or "", "aud": q.get("service", [""])[0], "exp": int(time.time()) + 600,
                                "nbf": int(time.time()) - 10, "iat": int(time.time()), "jti": os.urandom(8).hex(), "access": access})
                body = json.dumps({"token": tok}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.realm = f"http://127.0.0.1:{self.port}/token"

    def sign(self, claims):
        head = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}).encode())
        body = b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(self.dir, "sign.key")], input=f"{head}.{body}".encode(), check=True, capture_output=True).stdout
        return f"{head}.{body}.{b64url(sig)}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    """docker-registry in MODE: http, tls, basic (htpasswd over TLS) or token (over TLS)."""

    def __init__(self, mode, users=None):
        self.mode = mode
        self.dir = tempfile.mkdtemp(prefix=f"berth-reg-{mode}-")
        self.users = users or {"alice": "wonderland"}
        self.port = free_port()
        self.token = None
        self.ca = CA(self.dir) if mode != "http" else None
        cfg = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
               "storage": {"filesystem": {"rootdirectory": os.path.join(self.dir, "data")}, "delete": {"enabled": True}},
               "http": {"addr": f"127.0.0.1:{self.port}", "secret": "berth-test-secret"}}
        if self.ca:
            cfg["http"]["tls"] = {"certificate": self.ca.leaf_crt, "key": self.ca.leaf_key}
        if mode == "basic":
            lines = [subprocess.run(["htpasswd", "-nbB", u, p], check=True, capture_output=True, text=True).stdout.strip() for u, p in self.users.items()]
            with open(os.path.join(self.dir, "htpasswd"), "w") as f:
                f.write("\n".join(lines) + "\n")
            cfg["auth"] = {"htpasswd": {"realm": "berth-test", "path": os.path.join(self.dir, "htpasswd")}}
        if mode == "token":
            self.token = TokenServer(self.dir, self.users, anonymous_pull=True)
            cfg["auth"] = {"token": {"realm": self.token.realm, "service": "berth-test-registry", "issuer": "berth-test-issuer", "rootcertbundle": self.token.cert}}
        path = os.path.join(self.dir, "config.yml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.proc = subprocess.Popen(["docker-registry", "serve", path], stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        self.host = f"127.0.0.1:{self.port}"
        self.base = ("http" if mode == "http" else "https") + f"://{self.host}"
        self.ctx = ssl.create_default_context(cafile=self.ca.crt) if self.ca else None
        for _ in range(200):
            try:
                urllib.request.urlopen(self.base + "/v2/", context=self.ctx, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 401: up, and asking for credentials
            except Exception:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"docker-registry ({mode}) did not start: " + open(os.path.join(self.dir, "log")).read()[-500:])

    def auth_header(self, repo, actions="pull,push"):
        u, p = next(iter(self.users.items()))
        if self.mode == "basic":
            return "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()
        if self.mode == "token":
            tok = self.token.sign({"iss": "berth-test-issuer", "sub": u, "aud": "berth-test-registry", "exp": int(time.time()) + 600, "nbf": int(time.time()) - 10,
                                   "iat": int(time.time()), "jti": os.urandom(8).hex(), "access": [{"type": "repository", "name": repo, "actions": actions.split(",")}]})
            return "Bearer " + tok
        return None

    def request(self, method, path, data=None, headers=None, repo=None):
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(headers or {}))
        a = self.auth_header(repo) if repo else None
        if a:
            req.add_header("Authorization", a)
        return urllib.request.urlopen(req, context=self.ctx, timeout=30)

    def push_blob(self, repo, data):
        d = SHA(data)
        try:
            self.request("HEAD", f"/v2/{repo}/blobs/{d}", repo=repo)
            return d
        except urllib.error.HTTPError:
            pass
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/", data=b"", repo=repo)
        loc = r.headers["Location"]
        if loc.startswith("/"):
            loc = self.base + loc
        sep = "&" if "?" in loc else "?"
        req = urllib.request.Request(f"{loc}{sep}digest={d}", data=data, method="PUT", headers={"Content-Type": "application/octet-stream"})
        a = self.auth_header(repo)
        if a:
            req.add_header("Authorization", a)
        urllib.request.urlopen(req, context=self.ctx, timeout=60)
        return d

    def push_manifest(self, repo, ref, data, media_type):
        self.request("PUT", f"/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type}, repo=repo)
        return SHA(data)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.token:
            self.token.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class FakeRegistry:
    """A registry that serves whatever it is given, also what a real one would refuse:
    corrupt blobs, schema 1 manifests, wrong Content-Types. Plain HTTP."""

    def __init__(self):
        self.manifests, self.blobs = {}, {}
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send(self, code, body=b"", ctype="application/json"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if code == 200 and "/manifests/" in self.path:
                    self.send_header("Docker-Content-Digest", SHA(body))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):
                if self.path == "/v2/":
                    return self.send(200, b"{}")
                parts = self.path.split("/")
                if "manifests" in parts:
                    i = parts.index("manifests")
                    key = ("/".join(parts[2:i]), parts[i + 1])
                    if key in srv.manifests:
                        body, ctype = srv.manifests[key]
                        return self.send(200, body, ctype)
                    return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
                if "blobs" in parts:
                    d = parts[-1]
                    if d in srv.blobs:
                        return self.send(200, srv.blobs[d], "application/octet-stream")
                    return self.send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}')
                self.send(404)

            do_HEAD = do_GET

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.port}"

    def push_blob(self, repo, data, digest=None):
        d = digest or SHA(data)
        self.blobs[d] = data
        return d

    def push_manifest(self, repo, ref, data, media_type):
        self.manifests[(repo, ref)] = (data, media_type)
        self.manifests[(repo, SHA(data))] = (data, media_type)
        return SHA(data)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
