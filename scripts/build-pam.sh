#!/usr/bin/env bash
# Builds what a target needs for pam_gatehouse (docs/pam.md): the PAM module pam_gatehouse.so
# (plain C against libpam0g-dev: no Go runtime inside sudo or sshd) and its Go helper
# pam_gatehouse_helper, into OUTDIR (default ./build/pam).
#   scripts/build-pam.sh [OUTDIR] [HELPER_INSTALL_PATH]
# HELPER_INSTALL_PATH is where the module looks for the helper when its line has no helper=
# argument (default /usr/lib/gatehouse/pam_gatehouse_helper).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/pam}
helper=${2:-/usr/lib/gatehouse/pam_gatehouse_helper}
mkdir -p "$out"
${CC:-cc} -std=gnu11 -O2 -Wall -Wextra -Werror -fPIC -shared -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
  -DGH_DEFAULT_HELPER="\"$helper\"" -o "$out/pam_gatehouse.so" cmd/pam_gatehouse/module/pam_gatehouse.c -lpam
CGO_ENABLED=0 go build -trimpath -o "$out/pam_gatehouse_helper" ./cmd/pam_gatehouse
