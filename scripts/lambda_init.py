"""Cold init of each Lambda function: process start to its first Runtime API `next` call.

    python3 scripts/lambda_init.py target/release [RUNS]

Runs each function's binary (built for this machine: `cargo build --release --bins`) against
a local Runtime API on 127.0.0.1 that records when the first
`GET /2018-06-01/runtime/invocation/next` arrives, then stops the process. That interval is
what Lambda bills as init: the binary loaded, logging set up, the AWS configuration read and
the clients built. The environment is `events/moto.env` (static credentials, so no
credential provider is asked; nothing is called before `next`). Prints the median and the
spread of RUNS starts (default 20) per function.
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS = ["ingest", "query", "mta-sts"]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_next = threading.Event()
    at = 0.0

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            if not RuntimeApi.first_next.is_set():
                RuntimeApi.at = time.perf_counter()
                RuntimeApi.first_next.set()
        # Never answer: the function waits for its first event until it is stopped.
        time.sleep(2)

    def log_message(self, *args):
        pass


def environment(port: int, name: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "")}
    for line in (ROOT / "events/moto.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            env[key] = value
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "init",
            "AWS_LAMBDA_LOG_GROUP_NAME": "init",
            "RAMPART_RESOLVER": "off",
        }
    )
    return env


def one_start(binary: Path, env: dict) -> float:
    RuntimeApi.first_next.clear()
    started = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not RuntimeApi.first_next.wait(10):
            proc.kill()
            err = proc.stderr.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{binary}: no `next` call within 10 s\n{err}")
        return (RuntimeApi.at - started) * 1000
    finally:
        proc.kill()
        proc.wait()


def main() -> None:
    target = Path(sys.argv[1])
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    for name in FUNCTIONS:
        binary = target / name
        if not binary.is_file():
            raise SystemExit(f"{binary}: missing; build it with cargo build --release --bins")
        env = environment(port, name)
        one_start(binary, env)  # the page cache warm, as on a host that ran it before
        times = sorted(one_start(binary, env) for _ in range(runs))
        print(
            f"init {name:8} median {statistics.median(times):6.1f} ms   "
            f"min {times[0]:6.1f} ms   max {times[-1]:6.1f} ms   "
            f"({runs} starts, binary {binary.stat().st_size / 1e6:.2f} MB)"
        )
    server.shutdown()


main()
