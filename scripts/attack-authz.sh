#!/usr/bin/env bash
# Tries the authorization attacks of issue 9 against a fresh gatehouse with the real ssh client, as
# a granted non-admin account would, and prints one line per attack: what it tried, how many
# times, and what the bastion answered. Every attack must say "refused"; the script exits 1 if
# one went through. Usage: scripts/attack-authz.sh [TRIES]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
tries=${1:-5}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/gatehouse" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/admin_ed25519" ] && nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done

sshq() { # key account words…
  local key=$1 acct=$2; shift 2
  ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o IdentityAgent=none -o IdentitiesOnly=yes -i "$key" -p "$port" "$acct@127.0.0.1" -- "$@" || true
}
admin() { sshq "$work/data/admin_ed25519" admin --json-greppable "$@"; }
code() { sed -n 's/^JSON_OUTPUT=.*"error_code":"\([^"]*\)".*/\1/p' | tail -1; }
mkacct() { # name
  ssh-keygen -q -t ed25519 -N '' -f "$work/$1" -C "$1"
  admin --osh accountCreate --account "$1" --public-key "\"$(cat "$work/$1.pub")\"" >/dev/null
}
mkacct eve; mkacct boss; mkacct carol
admin --osh accountGrantCommand --account boss --command admin >/dev/null
failed=0
attack() { # description expected-code command grant words…
  local what=$1 want=$2 grant=$3; shift 3
  admin --osh accountGrantCommand --account eve --command "$grant" >/dev/null
  local got ok=0
  for _ in $(seq "$tries"); do
    got=$(sshq "$work/eve" eve --json-greppable --osh "$@" </dev/null | code)
    [ "$got" = "$want" ] && ok=$((ok + 1))
  done
  admin --osh accountRevokeCommand --account eve --command "$grant" >/dev/null
  local verdict=refused; [ "$ok" -eq "$tries" ] || { verdict="WENT THROUGH ($got)"; failed=1; }
  printf '| %s | %d | %s (%s) |\n' "$what" "$tries" "$verdict" "$want"
}
admin --osh accountFreeze --account boss --reason test >/dev/null
attack "accountUnfreeze on an admin" ERR_SECURITY_VIOLATION accountUnfreeze accountUnfreeze --account boss
attack "accountUnlock on an admin" ERR_SECURITY_VIOLATION accountUnlock accountUnlock --account boss
attack "accountAddPersonalAccess to an admin" ERR_SECURITY_VIOLATION accountAddPersonalAccess accountAddPersonalAccess --account boss --host 10.0.0.9 --user root --port 22
attack "accountMFAResetTOTP on an admin" ERR_SECURITY_VIOLATION accountMFAResetTOTP accountMFAResetTOTP --account boss
attack "accountModify on an admin" ERR_SECURITY_VIOLATION accountModify accountModify --account boss --always-active yes
attack "accountDelete of an admin" ERR_SECURITY_VIOLATION accountDelete accountDelete --account boss --no-confirm
attack "accountGrantCommand admin to oneself" ERR_SECURITY_VIOLATION accountGrantCommand accountGrantCommand --account eve --command admin
attack "accountGrantCommand accountGrantCommand to another" ERR_SECURITY_VIOLATION accountGrantCommand accountGrantCommand --account carol --command accountGrantCommand
attack "accountUnlock of oneself (lift one's own MFA lockout)" ERR_SECURITY_VIOLATION accountUnlock accountUnlock --account eve
attack "accountMFAResetPassword of oneself (skip selfMFAResetPassword's factor)" ERR_SECURITY_VIOLATION accountMFAResetPassword accountMFAResetPassword --account eve
attack "accountModify --pam-auth-bypass yes on oneself" ERR_SECURITY_VIOLATION accountModify accountModify --account eve --pam-auth-bypass yes
attack "accountModify --slack-user-id on oneself (approve one's own request)" ERR_SECURITY_VIOLATION accountModify accountModify --account eve --slack-user-id U0ATTACKER
attack "accountAddPersonalAccess to oneself without selfAddPersonalAccess" ERR_SECURITY_VIOLATION accountAddPersonalAccess accountAddPersonalAccess --account eve --host 10.0.0.9 --user root --port 22
frozen=$(admin --osh accountInfo --account boss | grep -c '"is_frozen":1' || true)
[ "$frozen" -eq 1 ] || { echo "the admin is no longer frozen"; failed=1; }
exit "$failed"
