#!/usr/bin/env bash
# setup_podman.sh — makes this Debian machine able to build and run examples/deploy/Dockerfile
# with rootful podman, without an image registry. Idempotent: each step is skipped when done.
#   1. apt: podman, runc (crun refuses hybrid cgroup hosts), debootstrap.
#   2. containers.conf drop-in: runtime = runc, default_ulimits = [] (a sandbox may forbid
#      raising limits, which podman's default nofile/nproc ulimits do).
#   3. a Debian 12 base image made with debootstrap --variant=minbase from the archive apt
#      uses, `podman import`ed as debian:12 and, without docs and translations as Debian's
#      slim images are, debian:12-slim (the names the Dockerfile uses).
# Needs root. Prints each step; exits non-zero if any step fails.
set -euo pipefail

if [[ "$(id -u)" != 0 ]]; then
    echo "setup_podman.sh: needs root (rootful podman, apt, debootstrap)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

_pkgs=(podman runc debootstrap)
_missing=()
for p in "${_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || _missing+=("$p")
done
if ((${#_missing[@]})); then
    echo "==> apt-get install ${_missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${_missing[@]}" >/dev/null
else
    echo "==> podman, runc, debootstrap present"
fi

_conf=/etc/containers/containers.conf.d/50-mlinfer.conf
if [[ ! -f "$_conf" ]]; then
    echo "==> writing $_conf (runtime = runc, default_ulimits = [])"
    mkdir -p "$(dirname "$_conf")"
    cat >"$_conf" <<'CONF'
# Written by libmlinfer tests/container/setup_podman.sh.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
else
    echo "==> $_conf present"
fi

# The Debian archive apt already uses (deb822 .sources first, then sources.list).
_mirror() {
    local m=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        m="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)"
    fi
    if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
        m="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
            /etc/apt/sources.list)"
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

if podman image exists debian:12 && podman image exists debian:12-slim; then
    echo "==> base images debian:12 and debian:12-slim present"
else
    mirror="${MLI_DEBIAN_MIRROR:-$(_mirror)}"
    dir="$(mktemp -d /var/tmp/mlinfer-rootfs.XXXXXX)"
    trap 'rm -rf "$dir"' EXIT
    echo "==> debootstrap --variant=minbase bookworm $dir $mirror (a few minutes)"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 ||
        { tail -n 30 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
    rm -f "$dir.log"
    # The base image apt must reach the same archive from inside the build.
    echo "deb $mirror bookworm main" >"$dir/etc/apt/sources.list"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
    echo "==> podman import as debian:12"
    tar -C "$dir" -c . | podman import -q - debian:12 >/dev/null
    # -slim as Debian's own slim images are made: no documentation, manual pages or
    # translations, and dpkg told not to install them later either.
    echo "==> podman import as debian:12-slim (without docs, man pages, translations)"
    cat >"$dir/etc/dpkg/dpkg.cfg.d/docker-slim" <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
SLIM
    find "$dir/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$dir"/usr/share/{man,groff,info,locale,lintian,linda}/* "$dir"/var/cache/apt/*.bin
    tar -C "$dir" -c . | podman import -q - debian:12-slim >/dev/null
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian:12' || true
