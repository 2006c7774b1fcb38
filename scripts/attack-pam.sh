#!/usr/bin/env bash
# Tries network attacks on the PAM verification endpoint (issue 17) against a fresh gatehouse with
# curl, as a machine on the network would, and prints one line per attack: what it tried, how many
# times, and what the endpoint answered. Every attack must be refused; exits 1 if one went through.
# The attacks from a target's shell (edited or stolen tickets, guessing codes through sudo) are in
# go test ./cmd/pam_gatehouse -run TestSudoOnTargetThroughGatehouse.
# Usage: scripts/attack-pam.sh [TRIES]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
tries=${1:-20}
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport); pport=$(freeport)
"$work/gatehouse" pam-token --server web1 --addresses 127.0.0.1 >"$work/token.out"
token=$(sed -n 2p "$work/token.out")
mkdir -p "$work/data"
{ printf '[pam]\nlisten = "127.0.0.1:%s"\n' "$pport"; sed -n '/^\[pam.servers/,$p' "$work/token.out"; } >"$work/data/gatehouse.toml"
"$work/gatehouse" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f "$work/data/pam_tls.crt" ] && nc -z 127.0.0.1 "$pport" 2>/dev/null && break; sleep 0.1; done
url="https://127.0.0.1:$pport/v1/verify"
ca="$work/data/pam_tls.crt"
failed=0
post() { # token body → the answer's "allow"
  curl -s --max-time 10 --cacert "$ca" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' --data-binary "$2" "$url" || true
}
report() { # name tries answers(allowed count)
  local verdict=refused
  [ "$3" -gt 0 ] && { verdict="ALLOWED $3 times"; failed=1; }
  printf '%-60s tries=%-5s %s\n' "$1" "$2" "$verdict"
}
n=0; for _ in $(seq "$tries"); do
  guess="ght_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  post "$guess" '{"account":"admin","code":"123456","service":"sudo","user":"root"}' | grep -q '"allow":true' && n=$((n+1)); done
report "guessed server tokens" "$tries" "$n"
n=0; for _ in $(seq "$tries"); do
  post "$token" '{"ticket":"gt1.eyJ2IjoxfQ.AAAA","code":"123456","service":"sudo","user":"root"}' | grep -q '"allow":true' && n=$((n+1)); done
report "right token, forged ticket" "$tries" "$n"
n=0; for _ in $(seq "$tries"); do
  post "$token" '{"account":"admin","code":"123456","service":"sudo","user":"root"}' | grep -q '"allow":true' && n=$((n+1)); done
report "right token, no ticket, account named (not allowed)" "$tries" "$n"
n=0; big=$(head -c 20000 /dev/zero | tr '\0' ' ')
post "$token" "{\"code\":\"1\",\"service\":\"$big\"}" | grep -q '"allow":true' && n=1
report "20 kB body" 1 "$n"
n=0; post "$token" '{"code":"1","allow":true}' | grep -q '"allow":true' && n=1
report "smuggled allow field" 1 "$n"
n=0; out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$ca" "$url" || true); [ "$out" = 200 ] && n=1
report "GET instead of POST (got $out)" 1 "$n"
n=0; out=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --http1.1 "http://127.0.0.1:$pport/v1/verify" || true); [ "$out" = 200 ] && n=1
report "plain HTTP on the TLS port (got $out)" 1 "$n"
# Slowloris: headers that never end are cut at ReadHeaderTimeout (5 s).
start=$(date +%s)
python3 - "$pport" <<'PY' || true
import socket, ssl, sys, time
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))))
s.send(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\n")
s.settimeout(30)
try:
    for _ in range(30):
        s.send(b"X-a: b\r\n"); time.sleep(1)
except Exception:
    pass
PY
held=$(( $(date +%s) - start ))
n=0; [ "$held" -ge 25 ] && n=1
report "slow headers held ${held}s (cut at ~5-10 s)" 1 "$n"
events=$(grep -h '"type":"pam.verify"' "$work"/data/audit/*.jsonl | wc -l)
allowed=$(grep -h '"type":"pam.verify"' "$work"/data/audit/*.jsonl | grep -c '"allowed":true' || true)
printf '%-60s %s events, %s allowed\n' "audit pam.verify events" "$events" "$allowed"
[ "$allowed" -eq 0 ] || failed=1
exit $failed
