#!/bin/sh
# Attacks on the audit log's crash safety, truncation detection and full-disk recovery, with the
# real binary and the real ssh client. Each section prints what it tried and what held; exit 1
# if anything did not hold. Needs root for the full-disk section (tmpfs), skipped otherwise.
#   ./scripts/attack-audit.sh [KILLS]
set -u
KILLS=${1:-30}
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; umount "$W/small" 2>/dev/null; rm -rf "$W"' EXIT
go build -o "$W/gatehouse" ./cmd/gatehouse || exit 1
G="$W/gatehouse"
ssh-keygen -q -t ed25519 -N '' -f "$W/admin" || exit 1
fail=0
PORT=$((20000 + $$ % 20000))

serve() { # data-dir config-lines…
	d=$1; shift
	printf '%s\n' "$@" >"$d/gatehouse.toml"
	"$G" serve --data-dir "$d" --listen 127.0.0.1:$PORT --admin-key "$W/admin.pub" >"$d.out" 2>&1 &
	PID=$!
	i=0; until grep -q "listening on" "$d.out" 2>/dev/null; do i=$((i+1)); [ $i -gt 200 ] && { echo "no start: $(cat "$d.out")"; return 1; }; sleep 0.05; done
}
bssh() {
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-o IdentitiesOnly=yes -o IdentityAgent=none -i "$W/admin" -p $PORT admin@127.0.0.1 -- "$@"
}

echo "== 1. kill -9 at random instants ($KILLS times), checkpoint every 3 lines, interval changed at each restart"
D="$W/crash"; mkdir -p "$D"; chmod 700 "$D"
ok=0
for n in $(seq 1 "$KILLS"); do
	serve "$D" "auditCheckpointEvery = $((n % 4 + 1))" || { fail=1; break; }
	( while :; do bssh --osh info >/dev/null 2>&1; done ) & LOOP=$!
	sleep 0.$(( $(od -An -N1 -tu1 /dev/urandom) % 9 + 1 ))
	kill -9 $PID; wait $PID 2>/dev/null
	kill $LOOP; wait $LOOP 2>/dev/null
	if "$G" audit verify --data-dir "$D" >"$W/v" 2>&1; then ok=$((ok+1)); else echo "kill $n: verify FAILED"; cat "$W/v"; fail=1; fi
done
serve "$D" || fail=1; bssh --osh info >/dev/null; kill -TERM $PID; wait $PID
"$G" audit verify --data-dir "$D" --strict >"$W/v" 2>&1 || { echo "strict verify after the kills FAILED"; cat "$W/v"; fail=1; }
echo "   $ok/$KILLS killed logs verified; $(grep -c 'incomplete line of' "$W/v") incomplete line(s) set aside and recorded; final closed log strict OK"

echo "== 2. cut the log under a running bastion"
D="$W/cut"; mkdir -p "$D"; chmod 700 "$D"
serve "$D" "auditCheckpointEvery = 3" || fail=1
for i in 1 2 3; do bssh --osh info >/dev/null; done
F=$(ls "$D"/audit/audit-*.jsonl | tail -1)
truncate -s "$(grep -b '"type":"checkpoint"' "$F" | sed -n 2p | cut -d: -f1)" "$F"
refused=0; for i in $(seq 1 10); do bssh --osh info >/dev/null 2>&1 || refused=$((refused+1)); done
kill -TERM $PID; wait $PID
if [ $refused -ge 8 ] && ! "$G" audit verify --data-dir "$D" >"$W/v" 2>&1 && grep -q "deleted\|truncated" "$W/v"; then
	echo "   held: $refused/10 logins after the cut refused; verify: $(grep 'first problem' "$W/v" | sed 's/.*: \([a-z-]*\): .*/\1/')"
else echo "   NOT HELD: $refused/10 refused"; cat "$W/v"; fail=1; fi

echo "== 3. append a forged line to a closed log"
D="$W/forge"; mkdir -p "$D"; chmod 700 "$D"
serve "$D" || fail=1; bssh --osh info >/dev/null; kill -TERM $PID; wait $PID
F=$(ls "$D"/audit/audit-*.jsonl | tail -1)
python3 - "$F" <<'PY'
import sys, json, hashlib
p = sys.argv[1]; lines = open(p, 'rb').read().split(b'\n')[:-1]
last = json.loads(lines[-1]); ev = json.loads(lines[-2])
ev['seq'] = last['seq'] + 1; ev['prev'] = hashlib.sha256(lines[-1]).hexdigest()
open(p, 'ab').write(json.dumps(ev, separators=(',', ':')).encode() + b'\n')
PY
if "$G" audit verify --data-dir "$D" >"$W/v" 2>&1; then echo "   NOT HELD"; cat "$W/v"; fail=1; else echo "   held: $(grep -o 'after-close' "$W/v" | head -1)"; fi

echo "== 4. full disk: logins refused, /healthz 503, back without a restart"
if [ "$(id -u)" = 0 ]; then
	D="$W/small"; mkdir -p "$D"; mount -t tmpfs -o size=2m,mode=0700 tmpfs "$D"
	MP=$((PORT + 1))
	serve "$D" "metricsListen = \"127.0.0.1:$MP\"" || fail=1
	bssh --osh info >/dev/null || fail=1
	dd if=/dev/zero of="$D/filler" bs=4k 2>/dev/null
	tries=0; refused=0; code=200
	while [ "$code" != 503 ] && [ $tries -lt 100 ]; do
		tries=$((tries+1)); bssh --osh info >/dev/null 2>&1 || refused=$((refused+1))
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MP/healthz")
	done
	for i in $(seq 1 20); do tries=$((tries+1)); bssh --osh info >/dev/null 2>&1 || refused=$((refused+1)); done
	rm "$D/filler"; t0=$(date +%s%N)
	until bssh --osh info >/dev/null 2>&1; do sleep 0.1; [ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 10000 ] && break; done
	back=$(( ($(date +%s%N) - t0) / 1000000 ))
	kill -TERM $PID; wait $PID
	if [ $refused = $tries ] && [ "$code" = 503 ] && [ $back -lt 10000 ] && "$G" audit verify --data-dir "$D" --strict >"$W/v" 2>&1; then
		echo "   held: $refused/$tries logins refused on the full disk, /healthz 503, a login worked ${back} ms after space came back, strict verify OK"
	else echo "   NOT HELD: $refused/$tries refused, healthz $code, back after ${back} ms"; cat "$W/v"; fail=1; fi
else echo "   skipped (needs root)"; fi
exit $fail
