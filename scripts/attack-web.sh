#!/usr/bin/env bash
# Tries attacks on the web console (issue 15) against a fresh gatehouse: login URLs obtained with
# the real ssh client, requests made with curl as an attacker would. One line per attack: what it
# tried, how many times, the HTTP answers. Every attack must say "refused"; exit 1 if one went
# through. Usage: scripts/attack-web.sh [TRIES]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
tries=${1:-5}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free); wport=$(free)
mkdir -p "$work/data" && chmod 700 "$work/data"
printf '[web]\nlisten = "127.0.0.1:%s"\n' "$wport" >"$work/data/gatehouse.toml"
"$work/gatehouse" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/admin_ed25519" ] && nc -z 127.0.0.1 "$wport" 2>/dev/null && break; sleep 0.1; done
sshq() { # key account words…
  local key=$1 acct=$2; shift 2
  ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o IdentityAgent=none -o IdentitiesOnly=yes -i "$key" -p "$port" "$acct@127.0.0.1" -- "$@" || true
}
admin() { sshq "$work/data/admin_ed25519" admin --json-greppable "$@"; }
mkacct() {
  ssh-keygen -q -t ed25519 -N '' -f "$work/$1" -C "$1"
  admin --osh accountCreate --account "$1" --public-key "\"$(cat "$work/$1.pub")\"" >/dev/null
}
url() { sshq "$work/$1" "$1" --json-greppable --osh webLogin | sed -n 's/^JSON_OUTPUT=.*"url":"\([^"]*\)".*/\1/p'; }
# login ACCOUNT: a cookie jar logged in as ACCOUNT, and its CSRF token in $work/ACCOUNT.csrf
login() {
  curl -sk -c "$work/$1.jar" -o /dev/null "$(url "$1")"
  curl -sk -b "$work/$1.jar" "https://127.0.0.1:$wport/" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1 >"$work/$1.csrf"
}
st() { curl -sk -o /dev/null -w '%{http_code}' "$@"; }
mkacct alice; mkacct bob
sshq "$work/alice" alice --osh info >/dev/null
login alice; login bob
alice_sess=$(admin --osh sessionList --account alice 2>/dev/null | sed -n 's/.*"id":"\([0-9a-f]\{16,\}\)".*/\1/p' | head -1)
[ -n "$alice_sess" ] || alice_sess=$(sqlite3 "$work/data/gatehouse.db" "select id from sessions where account='alice' limit 1" 2>/dev/null || true)
failed=0
attack() { # description expected-status curl-args…
  local what=$1 want=$2; shift 2
  local got codes="" ok=0
  for _ in $(seq "$tries"); do
    got=$(st "$@"); codes="$codes $got"
    [ "$got" = "$want" ] && ok=$((ok + 1))
  done
  local verdict=refused; [ "$ok" -eq "$tries" ] || { verdict="WENT THROUGH"; failed=1; }
  printf '| %s | %d | %s (HTTP%s) |\n' "$what" "$tries" "$verdict" "$(echo "$codes" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
}
W=https://127.0.0.1:$wport
used=$(url alice); curl -sk -o /dev/null "$used"
attack "login URL replayed after its first use" 403 "$used"
attack "guessed login token" 403 "$W/login?t=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
attack "console page without a cookie" 401 "$W/sessions"
attack "forged session cookie" 401 -b "gatehouse_console=$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" "$W/"
attack "POST logout without the CSRF token" 403 -b "$work/bob.jar" -X POST "$W/logout"
attack "POST logout with another session's CSRF token" 403 -b "$work/bob.jar" -X POST --data "csrf=$(cat "$work/alice.csrf")" "$W/logout"
attack "POST with the right token from another site (Origin)" 403 -b "$work/bob.jar" -H "Origin: https://evil.example" -X POST --data "csrf=$(cat "$work/bob.csrf")" "$W/logout"
attack "POST approve as a plain account, request not bound to it" 404 -b "$work/bob.jar" -X POST --data "csrf=$(cat "$work/bob.csrf")&action=approve" "$W/approvals/00112233445566778899aabbccddeeff"
if [ -n "$alice_sess" ]; then
  attack "bob opens alice's replay URL" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess"
  attack "bob fetches alice's cast" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess/cast"
  attack "bob searches alice's recording" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess/search?q=a"
  attack "bob watches alice's session live" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess/live/stream"
  attack "bob fetches alice's replay index" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess/replay/index"
  attack "bob fetches a segment of alice's replay" 403 -b "$work/bob.jar" "$W/sessions/$alice_sess/replay/0?d=1000"
  attack "alice asks for a negative segment" 400 -b "$work/alice.jar" "$W/sessions/$alice_sess/replay/-1"
  attack "alice asks for a segment past the end, with a forged duration" 404 -b "$work/alice.jar" "$W/sessions/$alice_sess/replay/99999?d=99999999999"
  attack "bob filters the sessions by transfer with a bad value" 400 -b "$work/bob.jar" "$W/sessions?transfer=scp%27%20OR%201=1"
fi
attack "plain account on the audit page" 403 -b "$work/bob.jar" "$W/audit"
attack "plain account on the directory page" 403 -b "$work/bob.jar" "$W/directory"
attack "session id with a path traversal" 404 -b "$work/bob.jar" "$W/sessions/..%2f..%2fgatehouse.toml"
attack "plain HTTP to the HTTPS console" 400 "http://127.0.0.1:$wport/"
admin --osh accountFreeze --account bob >/dev/null
attack "frozen account's console session" 401 -b "$work/bob.jar" "$W/"
exit $failed
