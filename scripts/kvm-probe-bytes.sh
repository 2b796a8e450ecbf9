#!/usr/bin/env bash
# Assembles activities/kvm-probe.S (GNU as and ld, from binutils) and prints the boot sector as
# base64, the form activities/accelerator.ts keeps it in.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
as --32 -o "$work/probe.o" "$here/activities/kvm-probe.S"
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$work/probe.bin" "$work/probe.o"
[ "$(stat -c %s "$work/probe.bin")" = 512 ] || { echo "kvm-probe-bytes.sh: the boot sector is not 512 bytes" >&2; exit 1; }
base64 -w0 "$work/probe.bin"
echo
