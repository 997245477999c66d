#!/usr/bin/env python3
"""Vendors the dashboard's third-party files from the npm registry, or checks them.

    python3 scripts/vendor_ui.py          # fetch the pinned versions into shared/api/ui/vendor
    python3 scripts/vendor_ui.py --check  # offline: every file as MANIFEST.json records it

The dashboard is served from files embedded in the binary: no CDN, no build step. This script
is the only way those files change. It downloads each pinned package's tarball, checks it
against the registry's `dist.integrity` (SHA-512), copies the few files the browser loads and
the package's licence, and records versions, licences and each file's SHA-256 in
MANIFEST.json. `--check` (run by scripts/test) fails when a file differs from its record,
is missing, or is not recorded.
"""

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "shared/api/ui/vendor"
REGISTRY = "https://registry.npmjs.org"

# (package, version, files the browser loads). Versions and sizes: ../shared/docs/dashboard.md §3.2.
PACKAGES = [
    ("lit", "3.3.3", ["index.js"]),
    ("lit-element", "4.2.2", ["lit-element.js"]),
    ("lit-html", "3.3.3", ["lit-html.js", "is-server.js"]),
    ("@lit/reactive-element", "2.1.2", ["reactive-element.js", "css-tag.js"]),
    # The UMD build: one file, no further imports (the ESM build imports @kurkle/color).
    ("chart.js", "4.6.1", ["dist/chart.umd.min.js"]),
    ("d3-geo", "3.1.2", ["dist/d3-geo.min.mjs"]),
    ("d3-array", "3.2.5", ["dist/d3-array.min.mjs"]),
    ("topojson-client", "3.1.0", ["dist/topojson-client.min.js"]),
    # 50m, not 110m: 110m lacks Singapore, Hong Kong, Malta, Bahrain, Liechtenstein, Monaco.
    ("world-atlas", "2.0.2", ["countries-50m.json"]),
]
LICENCE_NAMES = ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"]


def folder(package: str) -> str:
    """The folder a package's files go in: its name without the scope."""
    return package.rsplit("/", 1)[-1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def vendor() -> None:
    manifest = []
    for package, version, files in PACKAGES:
        meta = json.loads(fetch(f"{REGISTRY}/{package}/{version}"))
        tarball = fetch(meta["dist"]["tarball"])
        algorithm, digest = meta["dist"]["integrity"].split("-", 1)
        if algorithm != "sha512" or hashlib.sha512(tarball).digest() != base64.b64decode(digest):
            raise SystemExit(f"{package}@{version}: the tarball does not match the registry's integrity")
        with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
            members = {m.name.removeprefix("package/"): m for m in tar.getmembers() if m.isfile()}
            licence = next((n for n in LICENCE_NAMES if n in members), None)
            if licence is None:
                raise SystemExit(f"{package}@{version}: no licence file in the tarball")
            recorded = {}
            for name in [*files, licence]:
                if name not in members:
                    raise SystemExit(f"{package}@{version}: {name} is not in the tarball")
                data = tar.extractfile(members[name]).read()
                target = VENDOR / folder(package) / Path(name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                recorded[f"{folder(package)}/{Path(name).name}"] = sha256(data)
        manifest.append({
            "package": package,
            "version": version,
            "license": meta.get("license"),
            "tarball": meta["dist"]["tarball"],
            "integrity": meta["dist"]["integrity"],
            "files": recorded,
        })
        print(f"{package}@{version} ({meta.get('license')}): {', '.join(recorded)}")
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


def check() -> None:
    manifest_path = VENDOR / "MANIFEST.json"
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path}: missing; run scripts/vendor_ui.py")
    manifest = json.loads(manifest_path.read_text())
    pinned = {(p, v) for p, v, _ in PACKAGES}
    listed = {(e["package"], e["version"]) for e in manifest}
    if pinned != listed:
        raise SystemExit(f"{manifest_path}: records {sorted(listed)}, the script pins {sorted(pinned)}")
    problems = []
    recorded = {}
    for entry in manifest:
        if not entry.get("license"):
            problems.append(f"{entry['package']}: no licence recorded")
        recorded.update(entry["files"])
    for name, digest in recorded.items():
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256(path.read_bytes()) != digest:
            problems.append(f"{path}: differs from MANIFEST.json (run scripts/vendor_ui.py)")
    for path in VENDOR.rglob("*"):
        name = path.relative_to(VENDOR).as_posix()
        if path.is_file() and name != "MANIFEST.json" and name not in recorded:
            problems.append(f"{path}: not recorded in MANIFEST.json")
    if problems:
        raise SystemExit("vendored UI files:\n  " + "\n  ".join(problems))
    print(f"vendored UI files: {len(recorded)} files of {len(manifest)} packages as recorded")


if __name__ == "__main__":
    check() if sys.argv[1:] == ["--check"] else vendor()
