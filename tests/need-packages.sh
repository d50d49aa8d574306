#!/usr/bin/env bash
# Installs the Debian packages the tests need that are missing: as root with apt-get, else with
# sudo, else says which and fails. `tests/need-packages.sh WHO PACKAGE...`, WHO naming the caller
# in the message. A package name of the form `cmd:NAME=PACKAGE` is needed when the command NAME is
# missing (node and npm may come from elsewhere than Debian).
set -euo pipefail
who=$1
shift
missing=()
for package in "$@"; do
    if [[ $package == cmd:* ]]; then
        command=${package#cmd:}
        command -v "${command%%=*}" >/dev/null || missing+=("${command#*=}")
    else
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    fi
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
elif command -v sudo >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    echo "$who: the tests need these Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
fi
