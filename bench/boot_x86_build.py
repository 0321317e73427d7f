"""Benchmark: building the pxOS shell boot sector, primitive assembler vs NASM; time to the prompt.

    python bench/boot_x86_build.py

Prints medians. The primitive assembler runs in-process (what `pxos-kernel boot
build` does); NASM is timed as users run it, one `nasm -f bin` process per
build. Boot time is from starting QEMU to the prompt appearing in the VGA
buffer. Needs nasm and qemu-system-i386 (Debian: nasm, qemu-system-x86).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pxos_boot_x86.bootsector import assemble_boot_sector, boot_sector, floppy_image
from pxos_boot_x86.qemu import QemuMachine

BOOT = Path(__file__).resolve().parents[1] / "boot"


def median_seconds(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    nasm = shutil.which("nasm")
    if not nasm:
        print("nasm is not installed: sudo apt-get install nasm", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        ours = median_seconds(lambda: boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs")), 200)
        theirs = median_seconds(lambda: subprocess.run(
            [nasm, "-f", "bin", "-o", str(scratch / "n.img"), str(BOOT / "pxos_shell.asm")], check=True), 50)
        same = (scratch / "n.img").read_bytes() == boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs"))
        print(f"build the shell sector: primitive assembler {ours * 1e3:.2f} ms, nasm process {theirs * 1e3:.2f} ms "
              f"-> {theirs / ours:.1f}x faster than running nasm (identical bytes: {same})")

        sector = boot_sector(assemble_boot_sector(BOOT / "pxos_shell.pxs"))
        (scratch / "hd.img").write_bytes(sector)
        (scratch / "fd.img").write_bytes(floppy_image(sector))
        for name in ("hd.img", "fd.img"):
            def boot() -> None:
                with QemuMachine(scratch / name) as machine:
                    machine.wait_for_text("pxOS v1>")
            print(f"QEMU start to prompt ({'hard disk' if name == 'hd.img' else '1.44 MB floppy'}): "
                  f"{median_seconds(boot, 5) * 1e3:.0f} ms (median of 5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
