#!/usr/bin/env bash
# The system packages releng-o-tron's demo and tests run for real (qemu, ostree, gpg, rsync, rpm,
# createrepo_c, ...), installed in one step. `npm run demo`, `npm test` and .ci/run all call this,
# so a fresh machine needs nothing else. Quick when everything is there: it only looks.
#
#   scripts/setup-system.sh            install what is missing (apt-get on Debian/Ubuntu, dnf on
#                                      Fedora), as root or with passwordless sudo; otherwise print
#                                      the one command to run and exit 1
#   scripts/setup-system.sh --check    only say what is missing (exit 1 if anything is)
#   scripts/setup-system.sh --tests    also what only the tests use (pyzmq, libvirt, binutils) and
#                                      start libvirtd where it can be started, as CI does
set -euo pipefail

check_only=false
for_tests=false
for arg in "$@"; do
  case "$arg" in
    --check) check_only=true ;;
    --tests) for_tests=true ;;
    *) echo "setup-system.sh: unknown option $arg (--check, --tests)" >&2; exit 2 ;;
  esac
done

# what to look for | Debian package | Fedora package. A `cmd:` is a command on PATH; `py:` a
# module /usr/bin/python3 imports.
needs=(
  "cmd:qemu-system-x86_64|qemu-system-x86|qemu-system-x86"
  "cmd:qemu-img|qemu-utils|qemu-img"
  "cmd:genisoimage|genisoimage|genisoimage"
  "cmd:ssh|openssh-client|openssh-clients"
  "cmd:xz|xz-utils|xz"
  "cmd:ostree|ostree|ostree"
  "cmd:gpg|gnupg|gnupg2"
  "cmd:rsync|rsync|rsync"
  "cmd:rpmbuild|rpm|rpm-build"
  "cmd:createrepo_c|createrepo-c|createrepo_c"
  "cmd:bsdtar|libarchive-tools|bsdtar"
  "cmd:setpriv|util-linux|util-linux"
  "cmd:openssl|openssl|openssl"
)
if $for_tests; then
  needs+=(
    "py:zmq|python3-zmq|python3-zmq"
    "cmd:virsh|libvirt-clients|libvirt-client"
    "cmd:libvirtd|libvirt-daemon-system|libvirt-daemon-kvm"
    "cmd:as|binutils|binutils"
    "py:pika|python3-pika|python3-pika"
    "cmd:rabbitmq-server|rabbitmq-server|rabbitmq-server"
  )
fi

if command -v apt-get >/dev/null; then manager=apt column=2
elif command -v dnf >/dev/null; then manager=dnf column=3
else manager=none column=2
fi

missing=()
for need in "${needs[@]}"; do
  what=${need%%|*}
  package=$(echo "$need" | cut -d'|' -f"$column")
  case "$what" in
    cmd:*) command -v "${what#cmd:}" >/dev/null 2>&1 && continue ;;
    py:*) /usr/bin/python3 -c "import ${what#py:}" >/dev/null 2>&1 && continue ;;
  esac
  [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
done

# The test VM image is built from Debian packages fetched with `apt-get download`, which needs
# the package lists; a fresh container often has none.
need_lists=false
if [ "$manager" = apt ] && ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then need_lists=true; fi

# Installing needs root: as root, or through sudo that asks no password (no prompts, ever).
if [ "$(id -u)" = 0 ]; then as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo)
else as_root=(none)
fi

install_command() {
  case "$manager" in
    apt) echo "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" ;;
    dnf) echo "sudo dnf install -y ${missing[*]}" ;;
    *) echo "install with your package manager: ${missing[*]}" ;;
  esac
}

if [ ${#missing[@]} -gt 0 ] || $need_lists; then
  if $check_only; then
    [ ${#missing[@]} -gt 0 ] && echo "missing system packages: ${missing[*]}"
    $need_lists && echo "apt has no package lists (apt-get update)"
    exit 1
  fi
  if [ "$manager" = none ] || [ "${as_root[*]}" = none ]; then
    echo "releng-o-tron needs these system packages: ${missing[*]:-none, only the apt package lists}." >&2
    echo "Run this once, then try again:" >&2
    if [ ${#missing[@]} -gt 0 ]; then echo "  $(install_command)" >&2; else echo "  sudo apt-get update" >&2; fi
    exit 1
  fi
  started=$(date +%s)
  echo "setup-system: installing ${missing[*]:-nothing, updating the apt package lists} (${manager})..." >&2
  case "$manager" in
    apt)
      ${as_root[@]+"${as_root[@]}"} apt-get update -qq
      if [ ${#missing[@]} -gt 0 ]; then
        ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      fi ;;
    dnf) ${as_root[@]+"${as_root[@]}"} dnf install -y -q "${missing[@]}" ;;
  esac
  echo "setup-system: done in $(( $(date +%s) - started )) s" >&2
fi

# libvirtd for the image hosts' libvirt backend, started the way CI starts it: without systemd,
# by hand. On a machine with nothing else on it (CI, a fresh test host) libvirt's qemu runs as root
# so it can read the tests' caches under /tmp and ~/.cache; a qemu.conf that already names a user
# is left alone. Where it cannot be started, the libvirt tests say they were skipped.
if $for_tests && ! $check_only && command -v libvirtd >/dev/null && [ "$(id -u)" = 0 ]; then
  if [ -f /etc/libvirt/qemu.conf ] && ! grep -q '^user *=' /etc/libvirt/qemu.conf; then
    printf '\n# Set by releng-o-tron scripts/setup-system.sh --tests: test VMs read caches under /tmp and ~/.cache.\nuser = "root"\ngroup = "root"\n' >> /etc/libvirt/qemu.conf
  fi
  pgrep -x virtlogd >/dev/null || virtlogd -d || true
  pgrep -x libvirtd >/dev/null || libvirtd -d || true
  for _ in $(seq 1 20); do virsh -q -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.5; done
  virsh -q -c qemu:///system version >/dev/null 2>&1 || echo "setup-system: libvirtd does not answer; the libvirt backend's tests will say they were skipped" >&2
fi
# RabbitMQ for the fedora-messaging (AMQP) tests, started the same way: detached, without systemd,
# where nothing answers on 5672 yet. A broker already running (the machine's own) is used as it is.
if $for_tests && ! $check_only && command -v rabbitmq-server >/dev/null && [ "$(id -u)" = 0 ]; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
    (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || echo "setup-system: RabbitMQ does not answer on 127.0.0.1:5672; the AMQP tests will fail" >&2
  fi
fi
exit 0
