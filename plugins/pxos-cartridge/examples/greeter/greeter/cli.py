"""The cartridge's program: `pxos-kernel run greet --cartridge greeter -- Ada`."""

from . import greeting


def main(*names: str) -> int:
    print(greeting(*names))
    return 0
