"""Prints the size of each Lambda package: python3 package_sizes.py TARGET_LAMBDA_DIR BIN...

The zip is what Lambda stores and loads (sam deploy uploads `bootstrap` deflated the same way);
the architecture is read from the ELF header, so a package built for the wrong one shows.
"""

import io
import sys
import zipfile
from pathlib import Path

MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def describe(bootstrap: Path) -> str:
    data = bootstrap.read_bytes()
    if data[:4] != b"\x7fELF":
        raise SystemExit(f"{bootstrap}: not an ELF executable")
    machine = MACHINES.get(int.from_bytes(data[18:20], "little"), "unknown")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("bootstrap", data)
    return f"{machine:7} bootstrap {len(data) / 1e6:6.2f} MB   zip {len(packed.getvalue()) / 1e6:6.2f} MB"


def main() -> None:
    root, bins = Path(sys.argv[1]), sys.argv[2:]
    for name in bins:
        bootstrap = root / name / "bootstrap"
        if not bootstrap.is_file():
            raise SystemExit(f"{bootstrap}: missing; the build did not produce it")
        print(f"package {name:8} {describe(bootstrap)}")


main()
