#!/usr/bin/env python3
"""Real MTA-STS and TLS-RPT clients against `rampart serve`, on a private network.

Run by scripts/clients.sh inside `unshare -mn` (new mount and network namespaces, as root),
so it can bind ports 53 and 443 and bind-mount its own /etc/resolv.conf without touching
the host. Inside:

* a DNS server (dnslib) on 127.0.0.1:53 answers for the test domains and serves the TXT
  records that Rampart publishes in its zone file, re-read on every query;
* `rampart serve` runs the API on https://127.0.0.1:8443 and the policy host on :443, with
  certificates from a test CA made here by openssl;
* postfix-mta-sts-resolver's `mta-sts-query` (a real sender's resolver: system DNS, port 443,
  SSL_CERT_FILE) fetches the hosted policy through the `_mta-sts` CNAME delegation, before
  and after a DNS-free mode switch, and refuses what Rampart never serves (a wrong media
  type, a redirect) from a deliberately broken server;
* curl POSTs corpus TLS reports, and sys4's tlsrpt-reporter (the sending side Postfix
  feeds) builds an RFC 8460 report from MTA datagrams and POSTs it gzipped to Rampart;
  every number is read back through the API.

Usage: real_clients.py RAMPART_BINARY CORPUS_DIR
"""
import ast
import gzip
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dnslib import CNAME, QTYPE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

RAMPART, CORPUS = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
BIN = Path(sys.executable).parent
WORK = Path(tempfile.mkdtemp(prefix="rampart-clients-"))
ZONE = "rua.test"
API = "https://127.0.0.1:8443"
CHECKS = []


def check(what, got, want):
    if got != want:
        raise SystemExit(f"FAIL {what}:\n  got  {got!r}\n  want {want!r}")
    CHECKS.append(what)
    print(f"ok   {what}", flush=True)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


# --- the private network -------------------------------------------------------------------

def isolate():
    run("ip", "link", "set", "lo", "up")
    resolv = WORK / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    run("mount", "--bind", str(resolv), "/etc/resolv.conf")
    # getaddrinfo must not find the test names anywhere but in our DNS.
    hosts = WORK / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    run("mount", "--bind", str(hosts), "/etc/hosts")


def certificates():
    names = ["mta-sts.hosted.test", "mta-sts.unhosted.test", "mta-sts.wrongtype.test",
             "mta-sts.redirect.test"]
    ext = WORK / "san.cnf"
    ext.write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in names) + ",IP:127.0.0.1\n"
                   "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ca, ca_key, key, csr, cert = (WORK / n for n in ("ca.pem", "ca.key", "srv.key", "srv.csr", "srv.pem"))
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=Rampart test CA", "-keyout", ca_key, "-out", ca)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mta-sts.hosted.test",
        "-keyout", key, "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", cert)
    return ca, cert, key


class Resolver(BaseResolver):
    """The owner's zones, plus Rampart's zone as its zone file says now."""

    STATIC = {
        "mta-sts.hosted.test.": [A("127.0.0.1")],
        "mta-sts.unhosted.test.": [A("127.0.0.1")],
        "_mta-sts.unhosted.test.": [TXT("v=STSv1; id=unhosted1;")],
        "mta-sts.wrongtype.test.": [A("127.0.0.2")],
        "_mta-sts.wrongtype.test.": [TXT("v=STSv1; id=wrongtype1;")],
        "mta-sts.redirect.test.": [A("127.0.0.3")],
        "_mta-sts.redirect.test.": [TXT("v=STSv1; id=redirect1;")],
        # The delegation an owner publishes once (README): the id lives in Rampart's zone.
        "_mta-sts.hosted.test.": [CNAME(f"hosted.test._mta-sts.{ZONE}.")],
    }

    def __init__(self, zone_file):
        self.zone_file = zone_file

    def published(self):
        records = {}
        if self.zone_file.exists():
            for line in self.zone_file.read_text().splitlines():
                m = re.fullmatch(r'(\S+) (\d+) IN TXT "(.*)"', line)
                if m:
                    records[m[1]] = [TXT(m[3])]
        return records

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower()
        records = {**self.STATIC, **self.published()}
        while name in records:
            data = records[name]
            for rdata in data:
                kind = type(rdata).__name__
                if kind == "CNAME" or QTYPE[request.q.qtype] in (kind, "ANY"):
                    reply.add_answer(RR(name, getattr(QTYPE, kind), rdata=rdata, ttl=1))
            if type(data[0]).__name__ != "CNAME":
                break
            name = str(data[0].label).lower()
        return reply


class Broken(http.server.BaseHTTPRequestHandler):
    """What Rampart never serves: a policy as text/html, or a redirect."""

    def do_GET(self):
        host = self.headers.get("Host", "")
        if host.startswith("mta-sts.redirect.test"):
            self.send_response(301)
            self.send_header("Location", "https://mta-sts.hosted.test/.well-known/mta-sts.txt")
            self.end_headers()
            return
        body = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.wrongtype.test\r\nmax_age: 86400\r\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def broken_servers(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    for address in ("127.0.0.2", "127.0.0.3"):
        server = http.server.ThreadingHTTPServer((address, 443), Broken)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()


# --- Rampart -------------------------------------------------------------------------------

def start_rampart(cert, key):
    inbox = WORK / "inbox"
    inbox.mkdir()
    log = open(WORK / "rampart.log", "w")
    proc = subprocess.Popen(
        [RAMPART, "serve", "--data", WORK / "data", "--inbox", inbox,
         "--listen", "127.0.0.1:8443", "--mta-sts-listen", "127.0.0.1:443",
         "--tls-cert", cert, "--tls-key", key, "--policy-cache-seconds", "0",
         "--inbound-address", f"reports@{ZONE}", "--tlsrpt-url", f"{API}/v1/tlsrpt"],
        stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", 443), timeout=0.2).close()
            socket.create_connection(("127.0.0.1", 8443), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise SystemExit("rampart serve did not start:\n" + (WORK / "rampart.log").read_text())


def api(method, path, body=None, content_type="application/json"):
    context = ssl.create_default_context(cafile=str(WORK / "ca.pem"))
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(API + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_for_record(value):
    """Rampart's publisher runs every 2 s; wait until its zone file carries `value`."""
    record = f"hosted.test._mta-sts.{ZONE}."
    for _ in range(100):
        published = Resolver(WORK / "data" / "mta-sts.zone").published().get(record)
        if published and str(published[0]).strip('"') == value:
            return
        time.sleep(0.1)
    raise SystemExit(f"Rampart did not publish {value} in its zone file")


def mta_sts_query(domain):
    """Runs the real resolver; returns (result, id, policy) as it printed them."""
    env = {**os.environ, "SSL_CERT_FILE": str(WORK / "ca.pem")}
    out = subprocess.run([BIN / "mta-sts-query", domain], capture_output=True, text=True,
                         env=env, timeout=60)
    text = re.sub(r"<STSFetchResult\.(\w+): \d+>", r"'\1'", out.stdout.strip())
    result = ast.literal_eval(text)
    status, rest = result[0], result[1]
    return (status, *rest) if rest else (status, None, None)


# --- the checks ----------------------------------------------------------------------------

def mta_sts():
    check("register hosted.test", api("POST", "/v1/domains", {"domain": "hosted.test"})[0], 201)
    enforce = {"mx": ["mx1.hosted.test", "*.mail.hosted.test"], "max_age": 86400}
    # The owner's records never change: each mode is one API call, and the sender sees it.
    for mode, step in (("enforce", "PUT an enforce policy"), ("testing", "switch to testing")):
        status, hosted = api("PUT", "/v1/domains/hosted.test/mta-sts", {**enforce, "mode": mode})
        check(step, status, 201)
        wait_for_record(f"v=STSv1; id={hosted['current']['id']};")
        check(f"mta-sts-query fetches the {mode} policy through the CNAME",
              mta_sts_query("hosted.test"),
              ("VALID", hosted["current"]["id"],
               {"version": "STSv1", "mode": mode, "mx": ["mx1.hosted.test", "*.mail.hosted.test"],
                "max_age": 86400}))
    check("a domain Rampart hosts no policy for is a fetch error (404)",
          mta_sts_query("unhosted.test")[0], "FETCH_ERROR")
    check("a policy served as text/html is refused", mta_sts_query("wrongtype.test")[0], "FETCH_ERROR")
    check("a redirect is not followed", mta_sts_query("redirect.test")[0], "FETCH_ERROR")


def curl_post(path, content_type):
    out = run("curl", "--silent", "--show-error", "--cacert", str(WORK / "ca.pem"),
              "--header", f"Content-Type: {content_type}", "--data-binary", f"@{path}",
              "--write-out", "\n%{http_code}", f"{API}/v1/tlsrpt")
    body, code = out.stdout.rsplit("\n", 1)
    return int(code), json.loads(body)


def tls_view(domain, first, last):
    status, view = api("GET", f"/v1/domains/{domain}/tls?from={first}&to={last}")
    assert status == 200, view
    return view["reports"], view["successful_sessions"], view["failed_sessions"]


def tls_reports_by_curl():
    expected = {e["dest"]: e["facts"]["reports"][0]
                for e in json.loads((CORPUS / "EXPECTED.json").read_text())
                if e["facts"].get("reports")}
    google = CORPUS / "tlsrpt/cry-inc/google.json"
    rpt02 = WORK / "rpt02.json.gz"
    rpt02.write_bytes(gzip.compress((CORPUS / "tlsrpt/mail-auth/rpt02.json").read_bytes()))
    check("curl POSTs corpus JSON: 201", curl_post(google, "application/tlsrpt+json")[0], 201)
    status, again = curl_post(google, "application/tlsrpt+json")
    check("curl POSTs it again: 200 duplicate", (status, again["outcome"]), (200, "duplicate"))
    check("curl POSTs corpus gzip: 201", curl_post(rpt02, "application/tlsrpt+gzip")[0], 201)
    g, r = expected["tlsrpt/cry-inc/google.json"], expected["tlsrpt/mail-auth/rpt02.json"]
    check("google.json sessions read back (EXPECTED.json)",
          tls_view("foo-bar.io", g["start"][:10], g["end"][:10]),
          (1, g["successful_total"], g["failure_total"]))
    check("rpt02.json sessions read back (EXPECTED.json)",
          tls_view("example.com", r["start"][:10], r["end"][:10]),
          (1, r["successful_total"], r["failure_total"]))
    check("a wrong media type is 415", curl_post(google, "text/plain")[0], 415)


def tls_report_from_tlsrpt_reporter():
    cfg = WORK / "tlsrpt.cfg"
    sock, store = WORK / "collectd.sock", WORK / "collectd.sqlite"
    http_script = (f"curl --silent --fail --cacert {WORK / 'ca.pem'} "
                   "--header 'Content-Type: application/tlsrpt+gzip' --data-binary @-")
    cfg.write_text(f"""[tlsrpt_collectd]
storage = sqlite://{store}
socketname = {sock}
logfilename = {WORK / 'collectd.log'}
log_level = debug

[tlsrpt_fetcher]
storage = sqlite://{store}
logfilename = {WORK / 'fetcher.log'}
log_level = debug

[tlsrpt_reportd]
organization_name = Sender Test Org
contact_info = tls-reports@sender.test
sender_address = noreply@sender.test
dbname = {WORK / 'reportd.sqlite'}
logfilename = {WORK / 'reportd.log'}
log_level = debug
http_script = {http_script}
fetchers = {BIN / 'tlsrpt-fetcher'} --config_file {cfg}
debug_send_file_dest = {WORK / 'sent'}
interval_main_loop = 2
max_retries_domainlist = 2
min_wait_domainlist = 0
max_wait_domainlist = 1
max_retries_domaindetails = 2
min_wait_domaindetails = 0
max_wait_domaindetails = 1
spread_out_delivery = 2
""")
    (WORK / "sent").mkdir()
    out = open(WORK / "tlsrpt-stdout.log", "w")
    collectd = subprocess.Popen([BIN / "tlsrpt-collectd", "--config_file", cfg], stdout=out,
                                stderr=subprocess.STDOUT)
    for _ in range(100):
        if sock.exists():
            break
        time.sleep(0.1)
    policy = {"policy-type": 2, "policy-string": ["version: STSv1", "mode: testing",
                                                  "mx: mx1.reported.test", "max_age: 86400"],
              "policy-domain": "reported.test", "mx-host": ["mx1.reported.test"]}
    record = f"v=TLSRPTv1; rua={API}/v1/tlsrpt"
    failure = {**policy, "f": 1, "t": 1, "failure-details": [
        {"c": 203, "s": "192.0.2.1", "h": "sender.test", "n": "mx1.reported.test", "r": "198.51.100.7"}]}
    # As Postfix's libtlsrpt sends them: "f" marks a failed session, "t" counts its details.
    success = {**policy, "f": 0, "t": 0}
    client = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for datagram in (failure, success, success):
        client.sendto(json.dumps({"dpv": "1", "d": "reported.test", "pr": record,
                                  "policies": [datagram]}).encode(), str(sock))
    time.sleep(1)
    collectd.send_signal(signal.SIGUSR2)  # development hook: today becomes yesterday
    time.sleep(1)
    reportd = subprocess.Popen([BIN / "tlsrpt-reportd", "--config_file", cfg], stdout=out,
                               stderr=subprocess.STDOUT)
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%d")
    try:
        for _ in range(300):
            if api("GET", "/v1/domains/reported.test")[0] == 200:
                break
            time.sleep(0.2)
        check("tlsrpt-reporter's gzipped POST is stored and reads back: 2 ok, 1 failed",
              tls_view("reported.test", yesterday, yesterday), (1, 2, 1))
        status, view = api("GET", f"/v1/domains/reported.test/tls?from={yesterday}&to={yesterday}")
        check("its failure detail reads back",
              view["by_result_type"], [{"value": "certificate-not-trusted", "failed_sessions": 1}])
        sent = list((WORK / "sent").iterdir())
        check("the reporter wrote one report", len(sent), 1)
    finally:
        reportd.terminate()
        collectd.terminate()


def main():
    isolate()
    ca, cert, key = certificates()
    quiet = DNSLogger(log="-request,-reply,-truncated,-data", prefix=False)
    dns = DNSServer(Resolver(WORK / "data" / "mta-sts.zone"), address="127.0.0.1", port=53,
                    logger=quiet)
    dns.start_thread()
    broken_servers(cert, key)
    rampart = start_rampart(cert, key)
    try:
        mta_sts()
        tls_reports_by_curl()
        tls_report_from_tlsrpt_reporter()
    except BaseException:
        print((WORK / "rampart.log").read_text()[-3000:], file=sys.stderr)
        for log in ("collectd.log", "fetcher.log", "reportd.log"):
            if (WORK / log).exists():
                print(f"--- {log}\n" + (WORK / log).read_text()[-2000:], file=sys.stderr)
        raise
    finally:
        rampart.terminate()
        rampart.wait(timeout=10)
    print(f"real clients: {len(CHECKS)} checks passed")


if __name__ == "__main__":
    main()
