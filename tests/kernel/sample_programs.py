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
