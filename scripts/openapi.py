#!/usr/bin/env python3
"""Writes shared/api/openapi.json, the OpenAPI 3.1 description of the REST API.

The JSON file is what the API serves and what tests check responses against; this script is
its readable source. Run it after changing a resource, then `cargo test` checks that the
Router and the document agree.
"""
import json
import pathlib

DIMENSIONS = ["reporter", "source_ip", "header_from", "disposition", "dmarc", "spf_result",
              "spf_domain", "dkim_result", "dkim_domain", "dkim_selector", "day", "country", "asn",
              "service", "classification"]
CLASSES = ["compliant", "forwarded", "misconfigured", "suspicious"]


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(t, **extra):
    return {"type": [t, "null"], **extra}


def obj(props, required=None, **extra):
    return {"type": "object", "properties": props,
            "required": required if required is not None else list(props),
            "additionalProperties": False, **extra}


INT = {"type": "integer", "minimum": 0}
SINT = {"type": "integer"}
STR = {"type": "string"}
DATE = {"type": "string", "format": "date"}
SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
COUNTS = {"type": "object", "additionalProperties": SINT}

schemas = {
    "Error": obj({"error": {"type": "string", "description": "a stable code"},
                  "message": {"type": "string", "description": "what was wrong, for a person"}}),
    "DomainView": obj({
        "domain": STR, "registered": {"type": "boolean"},
        "registered_at": nullable("string", format="date-time"),
        "reports": INT, "messages": INT, "records": INT}),
    "DomainList": obj({"domains": {"type": "array", "items": ref("DomainView")},
                       "next": nullable("string")}),
    "DnsRecord": obj({"name": STR, "type": {"enum": ["TXT", "CNAME"]}, "value": STR,
                      "zone": STR, "purpose": STR}),
    "DomainSetup": obj({
        "domain": STR, "registered": {"type": "boolean"},
        "registered_at": nullable("string", format="date-time"),
        "reports": INT, "messages": INT, "records": INT,
        "dns": {"type": "array", "items": ref("DnsRecord")}}),
    "Registration": obj({"domain": {"type": "string", "examples": ["example.com"]}}),
    "Removal": obj({"domain": STR, "unregistered": {"type": "boolean"},
                    "purged": {"type": "boolean"}}),
    "TlsTotals": obj({"reports": SINT, "successful_sessions": SINT, "failed_sessions": SINT}),
    "Summary": obj({
        "domain": STR, "from": DATE, "to": DATE, "messages": SINT, "dmarc_pass": SINT,
        "dmarc_fail": SINT, "dmarc_pass_share": SHARE, "spf_aligned_pass": SINT,
        "spf_aligned_share": SHARE, "dkim_aligned_pass": SINT, "dkim_aligned_share": SHARE,
        "dispositions": COUNTS, "reports": SINT, "reporters": INT,
        "reporter_names": {"type": "array", "items": STR}, "warnings": SINT,
        "tls": ref("TlsTotals")}),
    "DayPoint": obj({"day": DATE, "messages": SINT, "dmarc_pass": SINT, "dmarc_fail": SINT,
                     "dispositions": COUNTS, "tls_successful_sessions": SINT,
                     "tls_failed_sessions": SINT}),
    "Timeseries": obj({"domain": STR, "from": DATE, "to": DATE,
                       "days": {"type": "array", "items": ref("DayPoint")}}),
    "Group": obj({
        "key": {"type": "object",
                "propertyNames": {"enum": DIMENSIONS},
                "additionalProperties": nullable("string")},
        "messages": INT, "dmarc_pass": INT, "dmarc_fail": INT}),
    "Stats": obj({"groups": {"type": "array", "items": ref("Group")},
                  "next": nullable("string"), "total_groups": INT}),
    "Service": obj({"id": STR, "name": STR, "kind": STR}),
    "ReverseDns": {"type": "object", "required": ["status"],
                   "properties": {"status": {"enum": ["confirmed", "unconfirmed", "absent", "unresolved"]},
                                  "name": STR},
                   "additionalProperties": False},
    "SourceInfo": obj({
        "country": nullable("string", description="ISO 3166-1 alpha-2"),
        "asn": {"type": ["integer", "null"], "minimum": 0}, "as_org": nullable("string"),
        "reverse_dns": ref("ReverseDns"), "base_domain": nullable("string"),
        "service": {"oneOf": [ref("Service"), {"type": "null"}]}}),
    "AuthFailure": obj({"domain": nullable("string"), "selector": nullable("string"),
                        "result": nullable("string"), "messages": INT},
                       required=["domain", "result", "messages"]),
    "SourceRow": obj({
        "key": nullable("string"), "service": {"oneOf": [ref("Service"), {"type": "null"}]},
        "source": ref("SourceInfo"), "addresses": INT, "messages": INT,
        "dmarc_pass": INT, "dmarc_pass_share": SHARE, "spf_aligned_pass": INT,
        "spf_aligned_share": SHARE, "dkim_aligned_pass": INT, "dkim_aligned_share": SHARE,
        "classifications": {"type": "object", "propertyNames": {"enum": CLASSES},
                            "additionalProperties": INT},
        "spf_failures": {"type": "array", "items": ref("AuthFailure")},
        "dkim_failures": {"type": "array", "items": ref("AuthFailure")}},
        required=["key", "service", "addresses", "messages", "dmarc_pass", "dmarc_pass_share",
                  "spf_aligned_pass", "spf_aligned_share", "dkim_aligned_pass",
                  "dkim_aligned_share", "classifications", "spf_failures", "dkim_failures"]),
    "SourcesView": obj({"domain": STR, "from": DATE, "to": DATE, "by": {"enum": ["service", "ip"]},
                        "sources": {"type": "array", "items": ref("SourceRow")},
                        "next": nullable("string"), "total": INT}),
    "SpoofingSource": obj({
        "ip": STR, "country": nullable("string"), "asn": {"type": ["integer", "null"], "minimum": 0},
        "as_org": nullable("string"),
        "reverse_dns": {"oneOf": [ref("ReverseDns"), {"type": "null"}]}, "messages": INT,
        "first_seen": nullable("string", format="date-time"),
        "last_seen": nullable("string", format="date-time"), "reports": INT,
        "reporters": {"type": "array", "items": STR},
        "header_from": {"type": "array", "items": STR}, "dispositions": COUNTS}),
    "SpoofingView": obj({"domain": STR, "from": DATE, "to": DATE,
                         "sources": {"type": "array", "items": ref("SpoofingSource")},
                         "next": nullable("string"), "total": INT, "messages": INT}),
    "DkimRow": obj({"domain": nullable("string"), "selector": nullable("string"),
                    "result": nullable("string")}),
    "SpfRow": obj({"domain": nullable("string"), "scope": nullable("string"),
                   "result": nullable("string")}),
    "RecordRow": obj({
        "report": STR, "reporter": STR, "report_id": STR,
        "begin": nullable("string", format="date-time"),
        "end": nullable("string", format="date-time"), "day": STR, "source_ip": STR,
        "count": INT,
        "invalid_count": nullable("string", description="a count above 2^53 - 1 as sent; "
                                  "`count` is then 0 and no total includes it"),
        "disposition": nullable("string"), "dmarc": {"enum": ["pass", "fail"]},
        "dkim_aligned": nullable("string"), "spf_aligned": nullable("string"),
        "header_from": nullable("string"), "envelope_from": nullable("string"),
        "envelope_to": nullable("string"),
        "dkim": {"type": "array", "items": ref("DkimRow")},
        "spf": {"type": "array", "items": ref("SpfRow")},
        "reasons": {"type": "array", "items": STR}}),
    "Records": obj({"records": {"type": "array", "items": ref("RecordRow")},
                    "next": nullable("string"), "total": INT}),
    "ReportItem": obj({
        "id": STR, "kind": {"enum": ["aggregate", "tlsrpt"]}, "reporter": STR,
        "report_id": STR, "begin": nullable("string", format="date-time"),
        "end": nullable("string", format="date-time"), "day": STR, "messages": INT,
        "records": INT, "warnings": INT, "received_at": {"type": "string", "format": "date-time"}}),
    "ReportList": obj({"reports": {"type": "array", "items": ref("ReportItem")},
                       "next": nullable("string"), "total": INT}),
    "ReportDetail": obj({
        "id": STR, "domain": STR, "day": STR,
        "received_at": {"type": "string", "format": "date-time"},
        "message": STR,
        "origin": {"type": "object"},
        "mail": {"type": ["object", "null"],
                 "description": "header facts and SES verdicts (`ses`: spam, virus, spf, dkim, dmarc)"},
        "report": {"type": "object", "required": ["kind"],
                   "properties": {"kind": {"enum": ["aggregate", "tlsrpt"]}},
                   "description": "the parsed report; see docs/report-schema.md"}}),
    "MessageRecord": obj({
        "key": STR, "outcome": {"enum": ["stored", "duplicate", "rejected", "held", "failed"]},
        "reports": {"type": "array", "items": STR}, "stored": INT, "duplicates": INT,
        "reason": nullable("string"), "processed_at": SINT, "size": INT,
        "from": nullable("string"), "subject": nullable("string")}),
    "MessageList": obj({"messages": {"type": "array", "items": ref("MessageRecord")},
                        "next": nullable("string")}),
    "SessionGroup": obj({"value": nullable("string"), "successful_sessions": INT,
                         "failed_sessions": INT}),
    "FailureGroup": obj({"value": nullable("string"), "failed_sessions": INT}),
    "FailureRow": obj({
        "report": STR, "reporter": nullable("string"), "day": STR,
        "policy_type": nullable("string"), "policy_domain": nullable("string"),
        "result_type": nullable("string"), "sending_mta_ip": nullable("string"),
        "receiving_mx_hostname": nullable("string"), "receiving_mx_helo": nullable("string"),
        "receiving_ip": nullable("string"), "failed_sessions": INT,
        "additional_information": nullable("string"), "failure_reason_code": nullable("string")}),
    "TlsView": obj({
        "domain": STR, "from": DATE, "to": DATE, "reports": INT,
        "successful_sessions": INT, "failed_sessions": INT,
        "by_policy_type": {"type": "array", "items": ref("SessionGroup")},
        "by_reporter": {"type": "array", "items": ref("SessionGroup")},
        "by_result_type": {"type": "array", "items": ref("FailureGroup")},
        "by_receiving_mx": {"type": "array", "items": ref("FailureGroup")},
        "by_sending_mta_ip": {"type": "array", "items": ref("FailureGroup")},
        "failures": {"type": "array", "items": ref("FailureRow")},
        "next": nullable("string"), "total_failures": INT}),
    "PolicyRequest": obj({
        "mode": {"enum": ["enforce", "testing", "none"]},
        "mx": {"type": "array", "items": STR,
               "description": "MX host names or `*.` wildcards, in A-labels; at least one unless mode is none"},
        "max_age": {**INT, "maximum": 31557600, "description": "seconds senders may cache the policy"}},
        required=["mode", "max_age"]),
    "PolicyProblem": obj({"field": STR, "message": STR}),
    "PolicyVersion": obj({
        "version": {"type": "integer", "minimum": 1}, "created_at": {**STR, "format": "date-time"},
        "mode": {"enum": ["enforce", "testing", "none"]}, "mx": {"type": "array", "items": STR},
        "max_age": INT, "id": {**STR, "pattern": "^[0-9a-f]{32}$"},
        "retire_at": {**STR, "format": "date-time",
                      "description": "on the `mode: none` version that ends hosting: nothing is served after it"}},
        required=["version", "created_at", "mode", "mx", "max_age", "id"]),
    "IdRecord": obj({
        "name": {**STR, "description": "the TXT record in Rampart's zone that `_mta-sts.<domain>` is a CNAME to"},
        "value": nullable("string", description="published now (null: none)"),
        "next_value": nullable("string", description="replaces `value` at `next_at`, once no cache holds the old policy"),
        "next_at": nullable("string", format="date-time",
                            description="when `next_value` is published (null `next_value`: the record is removed then)")}),
    "HostedPolicy": obj({
        "domain": STR, "state": {"enum": ["active", "retiring", "retired"]},
        "url": {**STR, "format": "uri"},
        "body": nullable("string", description="the policy file served now, exactly (CRLF line ends)"),
        "current": ref("PolicyVersion"), "txt": ref("IdRecord"),
        "warnings": {"type": "array", "items": ref("PolicyProblem")},
        "versions": {"type": "array", "items": ref("PolicyVersion"), "description": "newest first"}},
        required=["domain", "state", "url", "body", "current", "txt", "versions"]),
    "Upload": obj({"key": {**STR, "description": "where the raw upload is kept"},
                   "outcome": {"enum": ["stored", "duplicate"]},
                   "reports": {"type": "array", "items": STR}}),
}


def param(name, schema, description, where="query", required=False):
    return {"name": name, "in": where, "required": required or where == "path",
            "schema": schema, "description": description}


def error(description):
    return {"description": description,
            "content": {"application/json": {"schema": ref("Error")}}}


def ok(schema, description="OK"):
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


# Examples name data of the bundled samples, so a fuzzer reaches past 404s.
DOMAIN = param("domain", {"type": "string", "examples": ["stalw.art"]},
               "the domain, e.g. example.com", "path")
RANGE = [param("from", {**DATE, "examples": ["2022-09-01"]},
               "first UTC day, inclusive (default: 29 days before `to`)"),
         param("to", {**DATE, "examples": ["2022-11-30"]},
               "last UTC day, inclusive (default: today, or 29 days after `from`)")]
PAGE = [param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "page size (default 100)"),
        param("cursor", STR, "the `next` of the previous page")]
FILTER_EXAMPLES = {"source_ip": "192.0.2.0/24,2001:db8::/32", "dmarc": "pass", "day": "2022-11-08",
                   "disposition": "none", "reporter": "google.com", "country": "US,DE",
                   "asn": "15169,AS8075", "service": "google,sendgrid",
                   "classification": "suspicious,misconfigured"}
FILTERS = [param(d, {"type": "string", **({"examples": [FILTER_EXAMPLES[d]]} if d in FILTER_EXAMPLES else {})},
                 f"only records whose {d} is one of these comma-separated values"
                 + (" (addresses or CIDR networks)" if d == "source_ip" else ""))
           for d in DIMENSIONS]
CONFLICT = {"409": error("conflicts with the current state; the message says what to do")}
# A change: behind the JWT authorizer it needs the admin group or scope.
CHANGE = {"403": error("forbidden: the token may read but not change anything")}
# A JSON body: at most 64 KiB.
JSON_BODY = {"413": error("body_too_large: the body is larger than 64 KiB")}
ERRORS = {"400": error("bad parameters"), "401": error("missing or wrong bearer token"),
          "404": error("unknown domain or resource"),
          "503": error("storage unavailable, or the request took too long (`timeout`)")}


def operation(op_id, summary, params, responses, **extra):
    return {"operationId": op_id, "summary": summary, "parameters": params,
            "responses": {**responses, **ERRORS}, **extra}


paths = {
    "/v1/domains": {
        "get": operation("listDomains", "Registered domains, and domains reports arrived for, by name",
                         PAGE, {"200": ok("DomainList")}),
        "post": operation(
            "registerDomain", "Register a domain; answers with the DNS records to publish", [],
            {"200": ok("DomainSetup", "already registered"), "201": ok("DomainSetup", "registered"),
             **CHANGE, **JSON_BODY},
            requestBody={"required": True,
                         "content": {"application/json": {"schema": ref("Registration")}}}),
    },
    "/v1/domains/{domain}": {
        "get": operation("showDomain", "A domain with its DNS records", [DOMAIN],
                         {"200": ok("DomainSetup")}),
        "delete": operation("removeDomain", "Unregister a domain; `purge=true` also deletes its reports",
                            [DOMAIN, param("purge", {"type": "boolean"}, "delete reports and counters too")],
                            {"200": ok("Removal"), **CONFLICT, **CHANGE}),
    },
    "/v1/domains/{domain}/mta-sts": {
        "get": operation("showPolicy", "The hosted MTA-STS policy: what is served, its TXT id, every version",
                         [DOMAIN], {"200": ok("HostedPolicy")}),
        "put": operation(
            "replacePolicy", "Replace the hosted MTA-STS policy (the domain must be registered)", [DOMAIN],
            {"200": ok("HostedPolicy", "unchanged: the same policy is served"),
             "201": ok("HostedPolicy", "a new version is served"), **CONFLICT, **CHANGE, **JSON_BODY},
            requestBody={"required": True,
                         "content": {"application/json": {"schema": ref("PolicyRequest")}}}),
        "delete": operation("retirePolicy", "Retire hosting: `mode: none` is served until every cached "
                            "policy expired, then nothing (RFC 8461 section 8.3)",
                            [DOMAIN], {"200": ok("HostedPolicy"), **CHANGE}),
    },
    "/v1/domains/{domain}/summary": {
        "get": operation("summary", "Totals of a date range (read from per-day counters)",
                         [DOMAIN, *RANGE], {"200": ok("Summary")})},
    "/v1/domains/{domain}/timeseries": {
        "get": operation("timeseries", "One point per day of the range", [DOMAIN, *RANGE],
                         {"200": ok("Timeseries")})},
    "/v1/domains/{domain}/stats": {
        "get": operation("stats", "Messages grouped by one or two dimensions", [
            DOMAIN, *RANGE,
            param("group_by", {"type": "string", "examples": ["reporter,dmarc"]},
                  "one or two comma-separated dimensions: " + ", ".join(DIMENSIONS), required=True),
            param("sort", {"enum": ["-messages", "messages", "-dmarc_pass", "dmarc_pass",
                                    "-dmarc_fail", "dmarc_fail", "key", "-key"]},
                  "order of groups (default -messages)"),
            *PAGE, *FILTERS], {"200": ok("Stats")})},
    "/v1/domains/{domain}/sources": {
        "get": operation("sources", "Who sends as the domain: per service (or per address), volume, "
                         "pass rates, classifications and the SPF/DKIM results that failed", [
            DOMAIN, *RANGE,
            param("by", {"enum": ["service", "ip"]}, "one row per sending service (default) or per address"),
            *PAGE, *FILTERS], {"200": ok("SourcesView")})},
    "/v1/domains/{domain}/spoofing": {
        "get": operation("spoofing", "Unrecognised sources failing both SPF and DKIM, most messages first",
                         [DOMAIN, *RANGE, *PAGE, *FILTERS], {"200": ok("SpoofingView")})},
    "/v1/domains/{domain}/records": {
        "get": operation("records", "Records of the range, filtered and searched", [
            DOMAIN, *RANGE, param("q", STR, "free text: an IP, domain, organisation or report id"),
            param("format", {"enum": ["json", "csv"]}, "json (default) or csv"),
            param("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "page size (default 100)"),
            param("cursor", STR, "the `next` of the previous page (CSV: the `x-next-cursor` header)"),
            *FILTERS],
            {"200": {"description": "OK", "content": {
                "application/json": {"schema": ref("Records")},
                "text/csv": {"schema": {"type": "string"}}}}})},
    "/v1/domains/{domain}/reports": {
        "get": operation("reports", "Reports covering the range", [
            DOMAIN, *RANGE, param("reporter", STR, "comma-separated reporting organisations"),
            param("kind", {"enum": ["aggregate", "tlsrpt", "all"]}, "report kind (default all)"),
            *PAGE], {"200": {**ok("ReportList"), "links": {
                "report": {"operationId": "report",
                           "parameters": {"id": "$response.body#/reports/0/id"}},
                "reportRaw": {"operationId": "reportRaw",
                              "parameters": {"id": "$response.body#/reports/0/id"}}}}})},
    "/v1/domains/{domain}/tls": {
        "get": operation("tls", "TLS sessions of the range and their failures", [DOMAIN, *RANGE, *PAGE],
                         {"200": ok("TlsView")})},
    "/v1/reports/{id}": {
        "get": operation("report", "One report: metadata, policy, records, warnings, SES verdicts",
                         [param("id", STR, "Rampart's report id", "path")], {"200": ok("ReportDetail")})},
    "/v1/reports/{id}/raw": {
        "get": operation("reportRaw", "The raw message that carried a report",
                         [param("id", STR, "Rampart's report id", "path")],
                         {"200": {"description": "the message",
                                  "content": {"message/rfc822": {"schema": {"type": "string"}}}},
                          "413": error("too large to send here")})},
    "/v1/messages": {
        "get": operation("messages", "How ingested messages ended, newest first (default: rejected, held and failed)", [
            param("outcome", {"type": "string", "examples": ["stored,rejected"]},
                  "comma-separated: stored, duplicate, rejected, held, failed"), *PAGE],
            {"200": {**ok("MessageList"), "links": {
                "raw": {"operationId": "messageRaw",
                        "parameters": {"key": "$response.body#/messages/0/key"}}}}})},
    "/v1/messages/{key}": {
        "get": operation("messageRaw", "A raw message by its key",
                         [param("key", STR, "the message key (may contain /)", "path")],
                         {"200": {"description": "the message",
                                  "content": {"message/rfc822": {"schema": {"type": "string"}}}},
                          "413": error("too large to send here")})},
    "/v1/tlsrpt": {
        "post": {"operationId": "uploadTlsReport",
                 "summary": "Receive an SMTP TLS report over HTTPS (RFC 8460 section 5.4); public, no token",
                 "security": [{}], "parameters": [],
                 "requestBody": {"required": True, "content": {
                     "application/tlsrpt+gzip": {"schema": {"type": "string", "format": "binary"}},
                     "application/tlsrpt+json": {"schema": {"type": "object"}}}},
                 "responses": {"201": ok("Upload", "stored"), "200": ok("Upload", "already stored"),
                               "400": error("not a readable TLS report, or a period that has not begun (not kept)"),
                               "403": error("for a domain that is not registered, where only registered domains are counted (not kept)"),
                               "413": error("larger than the upload bound (not kept)"),
                               "415": error("not application/tlsrpt+gzip or +json (not kept)"),
                               "503": error("storage unavailable; send again")}}},
    "/openapi.json": {
        "get": {"operationId": "openapi", "summary": "This document", "parameters": [],
                "responses": {"200": {"description": "OK",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "401": error("missing or wrong bearer token")}}},
}

document = {
    "openapi": "3.1.0",
    "info": {"title": "Rampart API", "version": "1",
             "description": "DMARC aggregate and SMTP TLS reports per domain. Dates are UTC days "
                            "(YYYY-MM-DD, inclusive). Errors are `{\"error\": code, \"message\": ...}`. "
                            "Country and AS data: @ip-location-db (CC BY 4.0), from RouteViews "
                            "(routeviews.org), the NRO (nro.net) and IP to ASN Lite by DB-IP "
                            "(https://db-ip.com).",
             "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
    "servers": [{"url": "/"}],
    "components": {"schemas": schemas,
                   "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{}, {"bearer": []}],
    "paths": paths,
}

out = pathlib.Path(__file__).resolve().parent.parent / "shared/api/openapi.json"
out.write_text(json.dumps(document, indent=2) + "\n")
print(f"wrote {out}")
