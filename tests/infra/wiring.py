"""The template wires the functions: each one runs with exactly the environment that
infra/template.yaml gives it, behind a stand-in for the Lambda Runtime API, against moto.

    python wiring.py TEMPLATE BIN_DIR MAIL     (RAMPART_TEST_AWS_ENDPOINT names moto)

The linters prove the template is well formed; this proves what they cannot see: that the
variables the template sets are the ones the binaries read, with values that make them work
together. The template's references are resolved against moto resources (table, bucket, hosted
zone) and fixed stand-ins for what only AWS creates (API and CloudFront host names). Then:
the CloudFront Function passes the viewer's host on, query registers a domain and hosts a
policy, mta-sts serves it, ingest takes an SQS message for a mail SES would have written and
runs the policy-id schedule, an SES bounce passes the template's EventBridge rule (on
moto's EventBridge) to ingest, and the mailbox function finds a source's secret in Secrets
Manager under the template's prefix. Every answer is checked exactly where it carries a wired
value. Run by scripts/test after the debug build.
"""

import json
import os
import queue
import re
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
from cfnlint.decode import decode

REGION = "us-east-1"
ACCOUNT = "123456789012"
INBOUND_DOMAIN = "rua.rampart.example"
# What only AWS creates: the HTTP API's endpoint and the distribution's name.
API_ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com"
DISTRIBUTION = "d111111abcdef8.cloudfront.net"


class Template:
    """The template's Globals, parameters and conditions, and a resolver for the intrinsic
    functions its environment variables use."""

    def __init__(self, path, resources, params=None):
        self.doc, problems = decode(path)
        if self.doc is None:
            raise SystemExit(f"{path}: {problems}")
        self.params = {
            name: spec.get("Default", "") for name, spec in self.doc["Parameters"].items()
        }
        self.params["InboundDomain"] = INBOUND_DOMAIN
        self.params.update(params or {})
        self.resources = resources
        self.conditions = {}
        for name, expr in self.doc["Conditions"].items():
            self.conditions[name] = self.resolve(expr)

    def ref(self, name):
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::StackName": "rampart"}
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            spec = self.doc["Parameters"][name]
            value = self.params[name]
            if spec["Type"] == "CommaDelimitedList":
                return str(value).split(",")
            return str(value)
        if name in self.resources:
            return self.resources[name]
        raise SystemExit(f"the template refers to {name}, which this check does not model")

    def resolve(self, expr):
        if isinstance(expr, (str, bool)):
            return expr
        if isinstance(expr, (int, float)):
            return str(expr)
        if isinstance(expr, list):
            return [self.resolve(e) for e in expr]
        (fn, arg), = expr.items()
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Fn::GetAtt":
            name = ".".join(arg) if isinstance(arg, list) else arg
            return self.ref(name)
        if fn == "Fn::Sub":
            text, names = (arg, {}) if isinstance(arg, str) else arg
            names = {k: self.resolve(v) for k, v in names.items()}
            return re.sub(r"\$\{([^}]+)\}",
                          lambda m: names[m[1]] if m[1] in names else self.ref(m[1]), text)
        if fn == "Fn::If":
            cond, yes, no = arg
            return self.resolve(yes if self.conditions[cond] else no)
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            return str(a) == str(b)
        if fn == "Fn::Not":
            return not self.resolve(arg[0])
        if fn == "Fn::Join":
            sep, items = arg
            return sep.join(self.resolve(items))
        if fn == "Fn::Or":
            return any(self.resolve(x) for x in arg)
        if fn == "Condition":
            return self.conditions[arg]
        raise SystemExit(f"{fn} is not modelled by this check")

    def resolve_tree(self, value):
        """Resolves every intrinsic function inside plain maps and lists (an event pattern)."""
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in ("Ref", "Condition") \
                    or next(iter(value), "").startswith("Fn::"):
                return self.resolve(value)
            return {k: self.resolve_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve_tree(v) for v in value]
        return value

    def environment(self, logical_id):
        """Globals' variables merged with the function's own, as SAM merges them."""
        merged = dict(self.doc["Globals"]["Function"]["Environment"]["Variables"])
        own = self.doc["Resources"][logical_id]["Properties"].get("Environment", {})
        merged.update(own.get("Variables", {}))
        return {name: self.resolve(value) for name, value in merged.items()}

    def function(self, binary):
        for logical_id, res in self.doc["Resources"].items():
            props = res.get("Metadata", {}).get("BuildProperties", {})
            if res["Type"] == "AWS::Serverless::Function" and props.get("Binary") == binary:
                return logical_id
        raise SystemExit(f"no function in the template builds the binary {binary}")


class RuntimeApi(ThreadingHTTPServer):
    """The part of the Lambda Runtime API a function uses: next invocation, its answer."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.events = queue.Queue()
        self.results = queue.Queue()


class RuntimeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        event = self.server.events.get()
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", "4102444800000")
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rampart")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.path.rsplit("/", 1)[-1]  # response, error, or init/error
        self.server.results.put((kind, json.loads(body or b"null")))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def invoke(binary, env, events):
    """Starts the binary once, feeds it the events, returns one (kind, body) per event."""
    runtime = RuntimeApi()
    threading.Thread(target=runtime.serve_forever, daemon=True).start()
    for event in events:
        runtime.events.put(event)
    lambda_env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": binary.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/rampart/test/{binary.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "test",
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": os.environ["RAMPART_TEST_AWS_ENDPOINT"],
        **env,
    }
    if "RAMPART_RESOLVER" in env:
        # The template's value must be one the binary accepts (checked at init below);
        # the lookups themselves stay off, no test reaches a DNS server beyond 127.0.0.1.
        expect(f"{binary.name}: RAMPART_RESOLVER is a known setting", env["RAMPART_RESOLVER"]
               in ("system", "off"), True)
        lambda_env["RAMPART_RESOLVER"] = "off"
    proc = subprocess.Popen([str(binary)], env=lambda_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    results = []
    try:
        # Up to 60 s per answer; a process that exits (at init, say) ends the wait at once.
        for _ in range(len(events) * 120):
            if len(results) == len(events) or proc.poll() is not None:
                break
            try:
                results.append(runtime.results.get(timeout=0.5))
            except queue.Empty:
                pass
    finally:
        proc.kill()
        out = proc.communicate()[0].decode(errors="replace")
        runtime.shutdown()
    while not runtime.results.empty() and len(results) < len(events):
        results.append(runtime.results.get())
    if len(results) < len(events):
        raise SystemExit(f"{binary.name} stopped early: {results}\n{out}")
    LOGS.append(f"--- {binary.name}\n{out}")
    return results


LOGS = []


def expect(what, got, want):
    if got != want:
        logs = "\n".join(LOGS)
        raise SystemExit(f"FAIL {what}:\n  got  {got!r}\n  want {want!r}\nfunction output:\n{logs}")
    print(f"ok   {what}")


def http_event(method, path, body=None, headers=None, query=""):
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com",
                    "content-type": "application/json", **(headers or {})},
        "requestContext": {"accountId": ACCOUNT, "apiId": "abc123",
                           "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "192.0.2.1", "userAgent": "wiring"},
                           "requestId": str(uuid.uuid4()), "routeKey": "$default",
                           "stage": "$default", "time": "30/Nov/2026:06:00:00 +0000",
                           "timeEpoch": 1795932000000},
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def viewer_host_function(template):
    """The CloudFront Function, run by node on a viewer request that brings its own
    x-forwarded-host: the viewer's Host must win, or one domain could poison another's cache."""
    code = template.doc["Resources"]["ViewerHostFunction"]["Properties"]["FunctionCode"]
    request = {"request": {"method": "GET", "uri": "/.well-known/mta-sts.txt", "headers": {
        "host": {"value": "mta-sts.wiring.example"},
        "x-forwarded-host": {"value": "mta-sts.victim.example"}}}}
    script = f"{code}\nconsole.log(JSON.stringify(handler({json.dumps(request)})));"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    headers = json.loads(out.stdout)["headers"]
    expect("the CloudFront Function forwards the viewer's host", headers["x-forwarded-host"],
           {"value": "mta-sts.wiring.example"})


def main():
    template_path, bin_dir, mail_path = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    endpoint = os.environ["RAMPART_TEST_AWS_ENDPOINT"]
    aws = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing",
               aws_secret_access_key="testing")
    suffix = uuid.uuid4().hex[:8]
    table, bucket = f"wiring-{suffix}", f"wiring-{suffix}"
    subprocess.run([str(bin_dir / "rampart"), "setup", "--backend", "aws"], check=True,
                   env={**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION,
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "RAMPART_TABLE": table, "RAMPART_BUCKET": bucket},
                   stdout=subprocess.DEVNULL)
    zone = boto3.client("route53", **aws).create_hosted_zone(
        Name=INBOUND_DOMAIN, CallerReference=suffix)["HostedZone"]["Id"].split("/")[-1]
    template = Template(template_path, {
        "Table": table, "RawBucket": bucket, "PolicyZone": zone,
        "HttpApi.ApiEndpoint": API_ENDPOINT, "PolicyDistribution.DomainName": DISTRIBUTION,
        "AlertsConfigurationSet": f"rampart-alerts-{suffix}",
    })
    env = {b: template.environment(template.function(b))
           for b in ("ingest", "query", "mta-sts", "mailbox")}
    viewer_host_function(template)

    # query: register a domain, host a policy; the answers carry the wired names.
    (kind, registered), (_, hosted) = invoke(bin_dir / "query", env["query"], [
        http_event("POST", "/v1/domains", {"domain": "wiring.example"}),
        http_event("PUT", "/v1/domains/wiring.example/mta-sts",
                   {"mode": "enforce", "mx": ["mx.wiring.example"], "max_age": 604800}),
    ])
    expect("query answers the registration", (kind, registered["statusCode"]), ("response", 201))
    records = {r["name"]: r["value"] for r in json.loads(registered["body"])["dns"]}
    expect("_dmarc rua= is the template's inbound address",
           "rua=mailto:reports@rua.rampart.example" in records["_dmarc.wiring.example"], True)
    expect("_smtp._tls names the API's upload route",
           f"{API_ENDPOINT}/v1/tlsrpt" in records["_smtp._tls.wiring.example"], True)
    expect("mta-sts CNAME points at the distribution", records["mta-sts.wiring.example"],
           DISTRIBUTION)
    expect("_mta-sts CNAME points into the policy zone", records["_mta-sts.wiring.example"],
           f"wiring.example._mta-sts.{INBOUND_DOMAIN}")
    expect("query hosts the policy", hosted["statusCode"], 201)

    # mta-sts: the policy host reads the same table, the domain from x-forwarded-host.
    fetch = http_event("GET", "/.well-known/mta-sts.txt", headers={
        "host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
        "x-forwarded-host": "mta-sts.wiring.example"})
    (kind, served), = invoke(bin_dir / "mta-sts", env["mta-sts"], [fetch])
    expect("mta-sts serves the hosted policy", (kind, served["statusCode"], served["body"]), (
        "response", 200,
        "version: STSv1\r\nmode: enforce\r\nmx: mx.wiring.example\r\nmax_age: 604800\r\n"))
    expect("with the cache time the template sets",
           served["headers"]["cache-control"], "max-age=60")

    # ingest: an SQS message for a mail SES wrote under the template's prefix. The template
    # counts registered domains only: the mail, for twlnet.com, is held.
    s3 = boto3.client("s3", **aws)
    s3.put_object(Bucket=bucket, Key="inbound/wiring-mail", Body=mail_path.read_bytes())
    # The committed sample event, as S3 and SQS send it, naming this bucket and key.
    sqs = json.loads(Path("events/sqs-s3.json").read_text())
    notification = json.loads(sqs["Records"][0]["body"])
    notification["Records"][0]["s3"]["bucket"]["name"] = bucket
    notification["Records"][0]["s3"]["object"]["key"] = "inbound/wiring-mail"
    sqs["Records"][0]["body"] = json.dumps(notification)
    (kind, batch), = invoke(bin_dir / "ingest", env["ingest"], [sqs])
    expect("ingest acknowledges the batch", (kind, batch), ("response", {"batchItemFailures": []}))
    tags = s3.get_object_tagging(Bucket=bucket, Key="inbound/wiring-mail")["TagSet"]
    expect("and holds the mail of an unregistered domain", tags,
           [{"Key": "rampart-outcome", "Value": "held"}])

    # query: registering the domain; an upload for a domain nobody registered is refused,
    # not kept, and counted in a metric line.
    upload = {"organization-name": "Wiring", "report-id": "w1",
              "date-range": {"start-datetime": "2026-11-01T00:00:00Z",
                             "end-datetime": "2026-11-01T23:59:59Z"},
              "policies": [{"policy": {"policy-type": "sts", "policy-domain": "stranger.example"},
                            "summary": {"total-successful-session-count": 1,
                                        "total-failure-session-count": 0}}]}
    (kind, registered), (_, refused) = invoke(bin_dir / "query", env["query"], [
        http_event("POST", "/v1/domains", {"domain": "twlnet.com"}),
        http_event("POST", "/v1/tlsrpt", upload,
                   headers={"content-type": "application/tlsrpt+json"}),
    ])
    expect("query registers the domain", registered["statusCode"], 201)
    expect("an upload for an unregistered domain is refused", refused["statusCode"], 403)
    metric = [json.loads(line) for line in LOGS[-1].splitlines()
              if '"UploadsRefused"' in line]
    expect("and counted as a CloudWatch metric", [(m["Reason"], m["UploadsRefused"])
                                                   for m in metric],
           [("unregistered_domain", 1)])
    kept = s3.list_objects_v2(Bucket=bucket, Prefix="https/").get("KeyCount", 0)
    expect("and not kept", kept, 0)

    # The schedule ingests what was held for the domain registered since, and publishes the
    # policy ids of the template's zone (the id is due 60 s after the PUT).
    schedule = json.loads(Path("events/schedule.json").read_text())
    (skind, scheduled), = invoke(bin_dir / "ingest", env["ingest"], [schedule])
    expect("ingest runs the schedule: held mail, then the template's zone", (skind, scheduled),
           # wiring.example, registered above, had nothing held.
           ("response", {"released": {"outcomes": {"stored": 1},
                                      "domains": ["twlnet.com", "wiring.example"]},
                         "policy_ids_changed": 0, "policy_ids_failed": [],
                         # RAMPART_RESOLVER is off here: no DNS check runs.
                         "domains_checked": None, "checks_failed": None,
                         # Both registered domains are evaluated (the hour's sweep, and the
                         # stored report asked for twlnet.com); one report opens nothing, and
                         # nobody asked for a digest. The first 16 days of history are filled.
                         "alerts_evaluated": [
                             {"domain": d, "facts_computed": 16, "opened": 0, "worse": 0,
                              "resolved": 0, "mails_sent": 0, "mails_failed": 0,
                              "webhooks_sent": 0, "webhooks_failed": 0}
                             for d in ["twlnet.com", "wiring.example"]],
                         "alerts_failed": [], "digests_sent": [], "digests_failed": []}))
    tags = s3.get_object_tagging(Bucket=bucket, Key="inbound/wiring-mail")["TagSet"]
    expect("and the mail is stored", tags, [{"Key": "rampart-outcome", "Value": "stored"}])

    # SES's bounce of an alert mail: the committed sample, of the stack's configuration set,
    # matches the ingest function's EventBridge rule (moto's EventBridge judges the pattern),
    # and a delivery or another set's bounce does not; ingest suppresses the address, and the
    # settings of a domain that lists it show why.
    bounce = json.loads(Path("events/ses-bounce.json").read_text())
    configuration_set = env["ingest"]["RAMPART_SES_CONFIGURATION_SET"]
    expect("ingest is told the stack's configuration set", configuration_set,
           f"rampart-alerts-{suffix}")
    bounce["detail"]["mail"]["tags"]["ses:configuration-set"] = [configuration_set]
    ingest_id = template.function("ingest")
    rule = template.doc["Resources"][ingest_id]["Properties"]["Events"]["SendingFeedback"]
    pattern = json.dumps(template.resolve_tree(rule["Properties"]["Pattern"]))
    # The rule on moto's default bus, with a queue standing in for the function as target.
    events, sqs_client = boto3.client("events", **aws), boto3.client("sqs", **aws)
    caught = sqs_client.create_queue(QueueName=f"wiring-feedback-{suffix}")["QueueUrl"]
    caught_arn = sqs_client.get_queue_attributes(
        QueueUrl=caught, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"wiring-feedback-{suffix}", EventPattern=pattern)
    events.put_targets(Rule=f"wiring-feedback-{suffix}",
                       Targets=[{"Id": "ingest", "Arn": caught_arn}])
    delivered = json.loads(json.dumps(bounce))
    delivered["detail-type"] = "Email Delivered"
    elsewhere = json.loads(json.dumps(bounce))
    elsewhere["detail"]["mail"]["tags"]["ses:configuration-set"] = ["another-application"]
    for i, e in enumerate((bounce, delivered, elsewhere)):
        events.put_events(Entries=[{"Source": e["source"], "DetailType": e["detail-type"],
                                    "Detail": json.dumps(e["detail"]),
                                    "Resources": [f"wiring-{i}"]}])
    matched = [json.loads(m["Body"])["resources"] for m in sqs_client.receive_message(
        QueueUrl=caught, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])]
    expect("the rule takes the set's bounces only", matched, [["wiring-0"]])
    gone = bounce["detail"]["bounce"]["bouncedRecipients"][0]["emailAddress"]
    (kind, listed), = invoke(bin_dir / "query", env["query"], [
        http_event("PUT", "/v1/domains/twlnet.com/alert-settings", {"recipients": [gone]})])
    expect("query lists the recipient", listed["statusCode"], 200)
    (kind, fed), = invoke(bin_dir / "ingest", env["ingest"], [bounce])
    expect("ingest suppresses the bounced address", (kind, fed),
           ("response", {"suppressed": 1, "skipped": 0, "ignored": None}))
    (kind, shown), = invoke(bin_dir / "query", env["query"], [
        http_event("GET", "/v1/domains/twlnet.com/alert-settings")])
    expect("and the settings show it", [(s["address"], s["reason"])
                                        for s in json.loads(shown["body"])["suppressed"]],
           [(gone, "bounce: General: " + bounce["detail"]["bounce"]["bouncedRecipients"][0]
             ["diagnosticCode"])])

    # Mailbox sources: added through the query function, its secret kept in Secrets Manager
    # under the stack's prefix; tested, then read by the mailbox function's schedule, both of
    # which reach public servers only (a server on 127.0.0.1 is refused before any
    # connection, which shows the secret was found: a missing one says so instead).
    mailbox_id = f"wiring-{suffix}"
    prefix = env["mailbox"]["RAMPART_MAILBOX_SECRETS"]
    expect("the mailbox function's secrets are the stack's", prefix, "rampart/mailbox/")
    expect("and the query function's", env["query"]["RAMPART_MAILBOX_SECRETS"], prefix)
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    closed_port = closed.server_address[1]
    closed.server_close()
    refused = (f"127.0.0.1:{closed_port}: cannot connect: 127.0.0.1 has no public address "
               "(127.0.0.1): not called")
    (kind, added), (_, tested) = invoke(bin_dir / "query", env["query"], [
        http_event("POST", "/v1/mailboxes", {
            "id": mailbox_id, "url": f"imaps://127.0.0.1:{closed_port}/INBOX",
            "user": "dmarc@wiring.example", "secret": "imap-password"}),
        http_event("POST", f"/v1/mailboxes/{mailbox_id}/test"),
    ])
    expect("query adds the source", (kind, added["statusCode"]), ("response", 201))
    secrets_client = boto3.client("secretsmanager", **aws)
    expect("its secret is under the stack's prefix", secrets_client.get_secret_value(
        SecretId=f"{prefix}{mailbox_id}")["SecretString"], "imap-password")
    expect("the test reaches public servers only", json.loads(tested["body"]),
           {"ok": False, "messages": None, "new": None, "error": refused})
    (kind, read), = invoke(bin_dir / "mailbox", env["mailbox"], [schedule])
    expect("the mailbox function answers its schedule", (kind, read["skipped"]), ("response", []))
    expect("and, with the secret it found, reaches public servers only",
           [(i, r["error"]) for i, r in read["ran"]], [(mailbox_id, refused)])
    table_client = boto3.client("dynamodb", **aws)
    stored = json.loads(table_client.get_item(TableName=table, Key={
        "pk": {"S": "MAILBOX"}, "sk": {"S": mailbox_id}})["Item"]["body"]["S"])
    expect("and records the run on the source", stored["last_run"]["error"], refused)
    (kind, removed), = invoke(bin_dir / "query", env["query"], [
        http_event("DELETE", f"/v1/mailboxes/{mailbox_id}")])
    expect("query removes the source", removed["statusCode"], 200)
    expect("and its item", "Item" in table_client.get_item(TableName=table, Key={
        "pk": {"S": "MAILBOX"}, "sk": {"S": mailbox_id}}), False)
    try:
        secrets_client.get_secret_value(SecretId=f"{prefix}{mailbox_id}")
        gone = False
    except secrets_client.exceptions.ResourceNotFoundException:
        gone = True
    expect("and its secret", gone, True)
    mailbox_id_ = template.function("mailbox")
    expect("on a five-minute schedule", template.doc["Resources"][mailbox_id_]["Properties"]
           ["Events"]["ReadMailboxes"]["Properties"]["Schedule"], "rate(5 minutes)")

    # The ingest binary carries the IP databases: the report's source has its country and AS.
    (kind, sources), = invoke(bin_dir / "query", env["query"], [
        http_event("GET", "/v1/domains/twlnet.com/sources",
                   query="by=ip&from=2019-02-10&to=2019-02-10")])
    source = json.loads(sources["body"])["sources"][0]["source"]
    expect("ingest stored the source's country and AS",
           (source["country"], source["asn"], source["as_org"]), ("DE", 8560, "IONOS SE"))

    # The dashboard's sign-in, as GET /v1/sign-in tells it with the template's environment:
    # IAM by default; with CognitoSignIn, the stack's pool (created here on moto's Cognito),
    # its public client and the hosted sign-in page's endpoints.
    (kind, iam), = invoke(bin_dir / "query", env["query"], [http_event("GET", "/v1/sign-in")])
    expect("without an issuer the dashboard is told IAM", json.loads(iam["body"]),
           {"method": "iam", "oidc": None})
    cognito = boto3.client("cognito-idp", **aws)
    pool = cognito.create_user_pool(PoolName=f"rampart-people-{suffix}")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="dashboard", GenerateSecret=False,
        AllowedOAuthFlows=["code"], AllowedOAuthScopes=["openid", "email"],
        CallbackURLs=[f"{API_ENDPOINT}/ui/"])["UserPoolClient"]["ClientId"]
    with_pool = Template(template_path, {
        **template.resources, "UserPool": pool, "DashboardClient": client,
        "UserPoolDomain": f"rampart-{ACCOUNT}",
    }, params={"CognitoSignIn": "true"})
    query_env = with_pool.environment(with_pool.function("query"))
    (kind, signin), = invoke(bin_dir / "query", query_env, [http_event("GET", "/v1/sign-in")])
    hosted = f"https://rampart-{ACCOUNT}.auth.{REGION}.amazoncognito.com"
    expect("with CognitoSignIn the dashboard signs in at the stack's pool",
           json.loads(signin["body"]),
           {"method": "oidc", "oidc": {
               "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{pool}",
               "client_id": client, "scope": "openid email",
               "authorization_endpoint": f"{hosted}/oauth2/authorize",
               "token_endpoint": f"{hosted}/oauth2/token",
               "end_session_endpoint": f"{hosted}/logout"}})

    # Another issuer (Entra ID's form): what the operator gave; endpoints left empty are
    # for the browser to discover.
    entra = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000001/v2.0"
    with_issuer = Template(template_path, template.resources, params={
        "JwtIssuer": entra, "JwtAudience": "dashboard-app-id",
        "JwtTokenEndpoint": "https://tokens.example.net/oauth2/v2.0/token",
    })
    query_env = with_issuer.environment(with_issuer.function("query"))
    (kind, signin), = invoke(bin_dir / "query", query_env, [http_event("GET", "/v1/sign-in")])
    expect("with JwtIssuer the dashboard signs in there", json.loads(signin["body"]),
           {"method": "oidc", "oidc": {
               "issuer": entra, "client_id": "dashboard-app-id",
               "scope": "openid email profile", "authorization_endpoint": None,
               "token_endpoint": "https://tokens.example.net/oauth2/v2.0/token",
               "end_session_endpoint": None}})
    (kind, page), = invoke(bin_dir / "query", query_env, [http_event("GET", "/ui/domains")])
    policy = page["headers"]["content-security-policy"]
    expect("and its page may connect to the issuer and the token endpoint only",
           next(d for d in policy.split("; ") if d.startswith("connect-src")),
           "connect-src 'self' https://login.microsoftonline.com https://tokens.example.net")


main()
