#!/usr/bin/env bash
# Installs the real tools the tests drive (OpenSSH client and server, oathtool, asciinema, ttyplay,
# expect, ssh-audit, versitygw, PostgreSQL, chromium for the web console's browser tests, rsync and git
# for the transfers, ping and mtr for the network plugins, ansible, haproxy for the cluster test, vim (netrw,
# an editor's remote mode through the bastion), curl for -D through a jump, and for the PAM module: pamtester, sudo,
# a C compiler, libpam0g-dev) when they are missing,
# then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in ssh:openssh-client sshd:openssh-server ssh-keygen:openssh-client oathtool:oathtool \
            asciinema:asciinema ttyplay:ttyrec expect:expect ssh-audit:ssh-audit pamtester:pamtester sudo:sudo \
            chromium:chromium rsync:rsync git:git ping:iputils-ping mtr:mtr-tiny cc:gcc ansible:ansible haproxy:haproxy vim.basic:vim curl:curl; do
  bin=${pair%%:*}; pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
[ -f /usr/include/security/pam_modules.h ] || need+=(libpam0g-dev)
[ -x /usr/lib/openssh/sftp-server ] || need+=(openssh-sftp-server) # a target's SFTP server killed mid-transfer (e2e)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
# versitygw, a real S3 server, for the key sync tests (internal/testenv.StartS3), pinned.
if ! command -v versitygw >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/versitygw" ]; then
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
# PostgreSQL for the store tests (internal/store/postgres, the two-node tests): installed when
# missing, started, and a role that may create databases; each test makes its own database.
source scripts/postgres.sh
go vet ./...
# Static checks, pinned: staticcheck on everything, errcheck on the production code (the test
# helpers and the benchmarks are left out). Errors ignored on purpose are written `_ = f()` with a
# comment saying why, or listed with their reason in scripts/errcheck.excludes.
GOBIN=$(go env GOPATH)/bin
[ -x "$GOBIN/staticcheck" ] || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
[ -x "$GOBIN/errcheck" ] || go install github.com/kisielk/errcheck@v1.30.0
"$GOBIN/staticcheck" ./...
"$GOBIN/errcheck" -ignoretests -exclude scripts/errcheck.excludes \
  $(go list ./cmd/... ./internal/... | grep -Ev '/internal/(e2e|sshtest|testenv|store/storetest|store/postgres/pgtest)$')
# gatehouse builds on Linux, macOS and FreeBSD (amd64 and arm64): a Linux-only system call left
# outside a build tag breaks the others, so cross-compile before the tests (cached after the first).
for os in linux darwin freebsd; do
  for arch in amd64 arm64; do
    GOOS=$os GOARCH=$arch CGO_ENABLED=0 go build -o /dev/null ./cmd/gatehouse || { echo "cross-compile failed: GOOS=$os GOARCH=$arch" >&2; exit 1; }
  done
done
go test -count=1 -timeout 40m ./... 2>&1
