"""Programs the kernel tests run through the hypervisor."""

import os
import time


def add(a, b):
    return int(a) + int(b)


def describe(*args):
    return {"args": list(args), "cwd_is_scratch": "pxos-sandbox-" in os.getcwd()}


def fail():
    raise ValueError("this program always fails")


def sleep_forever():
    while True:
        time.sleep(0.1)


def hog_memory():
    blocks = []
    while True:
        blocks.append(bytearray(50 * 1024 * 1024))


def burn_cpu():
    while True:
        pass


def environment():
    return sorted(os.environ)


def exit_code(code):
    return int(code)


not_callable = 42


# -- hostile programs: each tries one way out of the sandbox and reports what it managed --------

def read_file(path):
    """Return the file's text (the attack succeeded) or the error it met."""
    try:
        with open(path, encoding="utf-8") as stream:
            return {"read": stream.read()}
    except OSError as exc:
        return {"refused": f"{type(exc).__name__}: {exc}"}


def write_file(path):
    try:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write("written by a sandboxed program\n")
        return {"written": path}
    except OSError as exc:
        return {"refused": f"{type(exc).__name__}: {exc}"}


def list_dir(path):
    try:
        return {"listed": sorted(os.listdir(path))}
    except OSError as exc:
        return {"refused": f"{type(exc).__name__}: {exc}"}


def connect_unix(path_or_abstract):
    import socket

    address = "\0" + path_or_abstract[1:] if path_or_abstract.startswith("@") else path_or_abstract
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(2)
        client.connect(address)
        client.sendall(b"hello from the sandbox")
        client.close()
        return {"connected": path_or_abstract}
    except OSError as exc:
        return {"refused": f"{type(exc).__name__}: {exc}"}


def forge_result():
    """Write a successful-looking result where the harness would, then die by SIGKILL."""
    import json
    import signal
    import sys

    spec = json.loads(sys.argv[1])
    with open(spec["result"], "w") as stream:
        json.dump({"value": "forged success"}, stream)
    os.kill(os.getpid(), signal.SIGKILL)


def malformed_result():
    """Write a result without the expected shape, then exit 0 without the harness."""
    import json
    import sys

    spec = json.loads(sys.argv[1])
    with open(spec["result"], "w") as stream:
        stream.write('{"status": "ok"')
    os._exit(0)


def huge_result():
    import json
    import sys

    spec = json.loads(sys.argv[1])
    with open(spec["result"], "w") as stream:
        json.dump({"value": "x" * (3 << 20)}, stream)
    os._exit(0)


def fork_many(count):
    """Start ``count`` sleeping children; the fork the cap refuses raises (exit 1)."""
    started = 0
    try:
        for _ in range(int(count)):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            started += 1
    finally:
        print(f"started {started} children", flush=True)
    return 0


def fill_memory_with_children(children, megabytes):
    """Fork ``children`` processes that each touch ``megabytes`` MB; exit 1 if any of them died."""
    pids = []
    for _ in range(int(children)):
        pid = os.fork()
        if pid == 0:
            block = bytearray(b"\x01") * (int(megabytes) << 20)
            time.sleep(3)
            os._exit(0 if block else 1)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    print(f"children ended with {codes}", flush=True)
    return 0 if all(code == 0 for code in codes) else 1


def setsid_grandchild(token):
    """Leave a grandchild in a new session holding stdout, then sleep past the timeout."""
    import subprocess

    subprocess.Popen(["sleep", f"3{token}"], start_new_session=True)  # setsid: out of our process group
    print("grandchild started", flush=True)
    time.sleep(300)
