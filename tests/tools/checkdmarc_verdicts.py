"""checkdmarc's verdicts on domains, asked of one DNS server: the peer Rampart's DNS health
checks are compared with (tests/checks.rs). Prints one JSON object: domain -> the verdicts
the comparison reads. No network beyond the given server; TLS and policy fetches are
skipped (Rampart fetches the policy itself, over its own test CA).

    python checkdmarc_verdicts.py 127.0.0.1:5353 example.com ...
"""

import json
import sys

import checkdmarc
import dns.nameserver


def error(result):
    return result.get("error") if isinstance(result, dict) else None


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    server = dns.nameserver.Do53Nameserver(host, int(port))
    out = {}
    for domain in sys.argv[2:]:
        result = checkdmarc.check_domains(
            [domain], nameservers=[server], skip_tls=True, timeout=2.0
        )
        spf, dmarc, tlsrpt = result["spf"], result["dmarc"], result["smtp_tls_reporting"]
        out[domain] = {
            "spf_valid": spf.get("valid"),
            "spf_error": error(spf),
            "spf_lookups": spf.get("dns_lookups"),
            "spf_voids": spf.get("dns_void_lookups"),
            "spf_warnings": spf.get("warnings", []),
            "dmarc_valid": dmarc.get("valid"),
            "dmarc_error": error(dmarc),
            "dmarc_warnings": dmarc.get("warnings", []),
            "tlsrpt_valid": tlsrpt.get("valid"),
            "tlsrpt_error": error(tlsrpt),
        }
    json.dump(out, sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main()
