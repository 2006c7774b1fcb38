#!/usr/bin/env bash
# Tries the front door as an attacker would, against a fresh `gatehouse serve` on loopback, with
# the real ssh client: `ssh` alone in the interactive mode, half-open floods from one and from
# many addresses, a failing source, keyless password guessing, method-list probing, running out
# of file descriptors, --ttl overflow. Prints one line per attack: attack | tries | result.
# Every target is on 127.0.0.0/8; every loop is bounded. Usage: scripts/attack-frontdoor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
ssh-keygen -q -t ed25519 -N '' -f "$work/admin"
ssh-keygen -q -t ed25519 -N '' -f "$work/stranger"
ssh-keygen -q -t ed25519 -N '' -f "$work/probe" # a key no account has

start() { # start DATA-DIR [ulimit]: starts gatehouse, sets $port
	local dir=$1 lim=${2:-}
	mkdir -p "$dir"
	if [ -n "$lim" ]; then
		(ulimit -n "$lim"; exec "$work/gatehouse" serve --data-dir "$dir" --listen 127.0.0.1:0 --admin-key "$work/admin.pub") >"$dir.out" 2>"$dir.log" &
	else
		"$work/gatehouse" serve --data-dir "$dir" --listen 127.0.0.1:0 --admin-key "$work/admin.pub" >"$dir.out" 2>"$dir.log" &
	fi
	pid=$!
	for _ in $(seq 100); do grep -q "listening on" "$dir.out" 2>/dev/null && break; sleep 0.1; done
	port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir.out")
}
sshopts() { echo "-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none -o ConnectTimeout=10 -p $port"; }
login() { # login FROM: admin runs info from that source; exit status
	ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/admin" -o BindAddress="$1" admin@127.0.0.1 -- --osh info >/dev/null 2>&1
}
alive() { kill -0 "$pid" 2>/dev/null; }
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
halfopen() { # halfopen N SOURCE... : holds N connections from each source for HOLD seconds
	python3 - "$port" "$HOLD" "$@" <<'PY' &
import socket, sys, time
port, hold, n, srcs = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
held = []
for src in srcs:
    for _ in range(n):
        s = socket.socket(); s.bind((src, 0)); s.settimeout(5)
        try: s.connect(("127.0.0.1", port)); held.append(s)
        except OSError: pass
time.sleep(hold)
PY
	flood=$!
	sleep 2
}

start "$work/d1"
# 1. `ssh` alone and its siblings at the interactive prompt.
printf '%s\n' "ssh" "ssh " "ssh ''" "ssh -p" "ssh -p 22" "ssh --osh info" "ssh -i" "ssh root@" "'" '"' '\' \
	"ssh ssh" "-" "--" "@" ":" 'ssh $(x)' "selfListIn" >"$work/lines"
nlines=$(wc -l <"$work/lines")
cat >"$work/i.exp" <<'EXP'
set timeout 10
lassign $argv port key lines
spawn ssh -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none -tt -o IdentitiesOnly=yes -i $key -p $port admin@127.0.0.1 -- -i
expect "(master)> "
set f [open $lines]
while {[gets $f l] >= 0} { send -- "$l\t\r"; expect { "(master)> " {} timeout { exit 1 } } }
send "info\r"; expect { "You are admin" {} timeout { exit 1 } }
send "exit\r"; expect eof
EXP
if expect "$work/i.exp" "$port" "$work/admin" "$work/lines" >/dev/null 2>&1 && alive && login 127.0.0.1; then r="no panic; the session and the server went on"; else r="FAILED"; fi
row "\`ssh\` alone and 17 other malformed lines, each with a tab, at the interactive prompt" "$nlines" "$r"

# 2. 500 half-open connections from one address while a user logs in from another.
HOLD=20 halfopen 500 127.0.0.2
ok=0; for _ in $(seq 10); do login 127.0.0.1 && ok=$((ok+1)); done
row "500 half-open connections from 127.0.0.2, 10 logins from 127.0.0.1" "500 + 10" "$ok/10 logins succeeded"
wait "$flood"

# 3. A source that keeps failing authentication.
refused=0
for _ in $(seq 20); do
	out=$(ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/stranger" -o BindAddress=127.0.0.3 admin@127.0.0.1 -- --osh info 2>&1 || true)
	case "$out" in *"Permission denied"*) ;; *) refused=$((refused+1));; esac
done
login 127.0.0.1 && other=ok || other=FAILED
row "wrong key from 127.0.0.3, 20 connections in a row" 20 "$refused refused by the penalty before authentication; login from 127.0.0.1: $other"

# 4. A --pubkey-auth-optional account, for the method list below.
ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/admin" admin@127.0.0.1 -- --osh accountCreate --account gina --public-key "\"$(cat "$work/stranger.pub")\"" >/dev/null
ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/admin" admin@127.0.0.1 -- --osh accountModify --account gina --pubkey-auth-optional yes >/dev/null
# Keyless password guessing on gina is driven by the Go e2e test
# TestStrangerCannotLockPubkeyOptionalAccount (the real ssh client on a pty).

# 5. The method list and prompts for an existing, a pubkey-optional and a missing name.
k=0
m=$(for n in admin gina nosuchuser; do k=$((k+1)); ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/probe" -o BindAddress=127.0.5.$k "$n@127.0.0.1" true 2>&1 | sed "s/$n@//" || true; done | sort -u | wc -l)
row "method list of admin, gina (pubkey-optional), nosuchuser" 3 "$m distinct answer(s)"

# 6. --ttl overflow.
bad=0
for t in 600y 1000y 99999y 1y99999d; do
	ssh $(sshopts) -o BatchMode=yes -o IdentitiesOnly=yes -i "$work/admin" admin@127.0.0.1 -- --osh accountCreate --account "t$RANDOM" --public-key "\"$(cat "$work/stranger.pub")\"" --ttl "$t" >/dev/null 2>&1 && bad=$((bad+1))
done
row "accountCreate --ttl 600y, 1000y, 99999y, 1y99999d" 4 "$bad accepted"

# 7. Many sources (a distributed flood) fill the global maxStartups.
HOLD=15 halfopen 10 $(for i in $(seq 1 60); do echo 127.0.3.$i; done)
ok=0; for _ in $(seq 5); do login 127.0.0.1 && ok=$((ok+1)); done
row "10 half-open connections from each of 60 addresses (600 > maxStartups full 500)" "600 + 5" "$ok/5 logins succeeded"
wait "$flood"
kill "$pid"; wait "$pid" 2>/dev/null || true

# 8. Out of file descriptors.
mkdir -p "$work/d2"; echo 'maxStartups = "1000:30:1000"' >"$work/d2/gatehouse.toml" # only the descriptors under test
start "$work/d2" 100
HOLD=5 halfopen 5 $(for i in $(seq 1 40); do echo 127.0.4.$i; done)
wait "$flood"
if alive && grep -q "too many open files" "$work/d2.log" && login 127.0.0.1; then r="accept errors logged, the server went on and served again"; else r="FAILED"; fi
row "200 connections against 'ulimit -n 100'" 200 "$r"
