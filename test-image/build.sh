#!/usr/bin/env bash
# Builds the VM image the compose-testing tests boot: a real BIOS-bootable disk (MBR, FAT
# partition, syslinux) holding Debian's kernel and an initramfs with busybox and dropbear.
# Its init does what cloud-init's NoCloud datasource does for the tests: finds the seed volume
# labelled cidata, takes the hostname from meta-data and the SSH keys from user-data, brings
# up the network by DHCP and starts sshd. Everything comes from Debian packages (apt-get
# download, no root); the result is cached by the caller.
#
# usage: test-image/build.sh <output dir>   → <output dir>/disk.raw, <output dir>/packages.txt
set -euo pipefail

out=$(realpath -m "$1")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
cd "$work"

kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "build.sh: apt knows no linux-image-amd64 (is this Debian with apt lists? run apt-get update)" >&2; exit 2; }
packages=("$kernel_pkg" busybox-static dropbear-bin libtomcrypt1 libtommath1 syslinux syslinux-common mtools)
mkdir debs root
(cd debs && apt-get download "${packages[@]}" >/dev/null 2>&1) || { echo "build.sh: apt-get download ${packages[*]} failed" >&2; exit 2; }
for deb in debs/*.deb; do dpkg-deb -x "$deb" root; done
for deb in debs/*.deb; do dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"; done > "$out/packages.txt"

kver=${kernel_pkg#linux-image-}
modules="root/lib/modules/$kver/kernel"
tools="$work/root/usr/bin"
export LD_LIBRARY_PATH="$work/root/usr/lib/x86_64-linux-gnu"

# --- the initramfs: the whole guest system
initrd=initrd
mkdir -p $initrd/{bin,sbin,etc/dropbear,proc,sys,dev,tmp,run,mnt/seed,root/.ssh,home/fedora/.ssh,home/vagrant/.ssh,lib/modules,usr/bin,usr/sbin,var/log}
cp root/bin/busybox $initrd/bin/busybox
for applet in $(root/bin/busybox --list); do
  [ -e "$initrd/bin/$applet" ] || ln -s busybox "$initrd/bin/$applet"
done
# The guest's virtual hardware: virtio disks (the seed) and network.
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
         drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci drivers/block/virtio_blk \
         net/core/failover drivers/net/net_failover drivers/net/virtio_net drivers/cdrom/cdrom fs/isofs/isofs; do
  cp "$modules/$m.ko" $initrd/lib/modules/
done
cp root/usr/sbin/dropbear $initrd/usr/sbin/
# dropbear's shared libraries, where the loader looks for them
mkdir -p $initrd/lib64 && cp -L /lib64/ld-linux-x86-64.so.2 $initrd/lib64/
for lib in $(ldd root/usr/sbin/dropbear | awk '/=> / {print $3}'); do
  mkdir -p "$initrd/lib/x86_64-linux-gnu" && cp -L "$lib" "$initrd/lib/x86_64-linux-gnu/"
done
cp "$here/init" $initrd/init
cp "$here/udhcpc.script" $initrd/etc/udhcpc.script
chmod 755 $initrd/init $initrd/etc/udhcpc.script
# cloud images log in as `fedora`, Vagrant boxes as `vagrant`, both with passwordless sudo;
# here those users are root itself
printf 'root:x:0:0:root:/root:/bin/sh\nfedora:x:0:0:cloud user:/home/fedora:/bin/sh\nvagrant:x:0:0:vagrant user:/home/vagrant:/bin/sh\n' > $initrd/etc/passwd
printf 'root::0:0:99999:7:::\nfedora::0:0:99999:7:::\nvagrant::0:0:99999:7:::\n' > $initrd/etc/shadow
printf 'root:x:0:\n' > $initrd/etc/group
printf '/bin/sh\n' > $initrd/etc/shells
# sudo runs the command as is. busybox's shell prefers its own applets to files on PATH, so
# reboot and poweroff are named by path here to reach the scripts below.
printf '#!/bin/sh\ncase "$1" in reboot|poweroff) cmd=/sbin/$1; shift; exec "$cmd" "$@";; esac\nexec "$@"\n' > $initrd/usr/bin/sudo
chmod 755 $initrd/usr/bin/sudo
# As on Fedora, rebooting stops sshd first (init does it on SIGTERM/SIGUSR2, see init), so the
# SSH session running `sudo reboot` is cut, which is why Tunir plans write `@@ sudo reboot`.
rm -f $initrd/bin/reboot $initrd/bin/poweroff
printf '#!/bin/sh\nsync\nkill -TERM 1\nsleep 60\n' > $initrd/sbin/reboot
printf '#!/bin/sh\nsync\nkill -USR2 1\nsleep 60\n' > $initrd/sbin/poweroff
chmod 755 $initrd/sbin/reboot $initrd/sbin/poweroff
(cd $initrd && find . | "$work/root/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > initrd.img

# --- the disk: MBR with syslinux's boot code, one bootable FAT partition from 1 MiB
size_mb=48
part_start=2048
truncate -s ${size_mb}M disk.raw
python3 - "$size_mb" "$part_start" <<'PY'
import struct, sys
size_mb, start = int(sys.argv[1]), int(sys.argv[2])
sectors = size_mb * 2048 - start
entry = struct.pack('<B3sB3sII', 0x80, b'\xfe\xff\xff', 0x0e, b'\xfe\xff\xff', start, sectors)
with open('disk.raw', 'r+b') as disk:
    disk.seek(446); disk.write(entry + b'\0' * 48); disk.write(b'\x55\xaa')
PY
dd if=root/usr/lib/syslinux/mbr/mbr.bin of=disk.raw bs=440 count=1 conv=notrunc status=none
offset=$((part_start * 512))
"$tools/mformat" -i "disk.raw@@$offset" -v RELENGOTRON -T $(( size_mb * 2048 - part_start )) -h 64 -s 32 -H $part_start ::
cat > syslinux.cfg <<CFG
DEFAULT linux
TIMEOUT 0
PROMPT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0,115200 panic=5 quiet
CFG
"$tools/mcopy" -i "disk.raw@@$offset" "root/boot/vmlinuz-$kver" ::/vmlinuz
"$tools/mcopy" -i "disk.raw@@$offset" initrd.img syslinux.cfg ::/
PATH="$tools:$PATH" "$tools/syslinux" --offset "$offset" --install disk.raw
mv disk.raw "$out/disk.raw"
echo "$out/disk.raw"
