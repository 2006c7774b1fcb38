#!/usr/bin/env bash
# Tries the PROXY protocol as an attacker would, against a fresh `gatehouse serve` on loopback with
# proxyProtocolFrom = ["127.0.0.2"] behind a small balancer (send-proxy-v2 from 127.0.0.2), with
# the real ssh client: forged headers (v1, v2, byte by byte, after a junk line) sent straight to
# gatehouse from an untrusted address, a client's own header behind the balancer, silent and
# oversized headers from the balancer, a penalized client behind the balancer. Prints one line per
# attack: attack | tries | result. Everything is on 127.0.0.0/8; every loop is bounded.
# Usage: scripts/attack-proxyproto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/gatehouse" ./cmd/gatehouse
ssh-keygen -q -t ed25519 -N '' -f "$work/admin"
ssh-keygen -q -t ed25519 -N '' -f "$work/stranger"

cat >"$work/relay.py" <<'PY'
# relay.py SRC HOST PORT MODE [CLAIM]: ssh's ProxyCommand. Connects to HOST:PORT from SRC, sends
# what MODE says first (a forged header claiming CLAIM), then relays stdin/stdout.
import os, socket, struct, sys, threading, time
src, host, port, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
claim = sys.argv[5] if len(sys.argv) > 5 else "10.66.0.1"
s = socket.socket(); s.bind((src, 0)); s.connect((host, port))
v1 = ("PROXY TCP4 %s 127.0.0.1 40000 22\r\n" % claim).encode()
v2 = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton(claim) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", 40000, 22)
if mode == "v1": s.sendall(v1)
elif mode == "v2": s.sendall(v2)
elif mode == "v1slow":
    for b in v1: s.sendall(bytes([b])); time.sleep(0.02)
elif mode == "junk": s.sendall(b"hello\r\n" + v1)
def up():
    while True:
        d = os.read(0, 65536)
        if not d:
            s.shutdown(socket.SHUT_WR); return
        s.sendall(d)
threading.Thread(target=up, daemon=True).start()
while True:
    try: d = s.recv(65536)
    except OSError: break
    if not d: break
    os.write(1, d)
PY
cat >"$work/balancer.py" <<'PY'
# balancer.py FRONT TARGET: send-proxy-v2 from 127.0.0.2, as HAProxy.
import socket, struct, sys, threading
front, target = int(sys.argv[1]), int(sys.argv[2])
ln = socket.socket(); ln.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ln.bind(("127.0.0.1", front)); ln.listen(512)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    for x in (a, b):  # shutdown first: a close alone leaves the other thread's recv holding the socket
        try: x.shutdown(socket.SHUT_RDWR)
        except OSError: pass
while True:
    c, (ip, p) = ln.accept()
    u = socket.socket(); u.bind(("127.0.0.2", 0))
    try: u.connect(("127.0.0.1", target))
    except OSError: c.close(); continue
    u.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + socket.inet_aton(ip) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", p, front))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
PY

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir="$work/d"
mkdir -p "$dir"
metrics=127.0.0.1:$(freeport)
printf 'proxyProtocolFrom = ["127.0.0.2"]\nperSourcePenaltyAuthFail = 30\nmetricsListen = "%s"\n' "$metrics" >"$dir/gatehouse.toml"
"$work/gatehouse" serve --data-dir "$dir" --listen 127.0.0.1:0 --admin-key "$work/admin.pub" >"$dir.out" 2>"$dir.log" &
for _ in $(seq 100); do grep -q "listening on" "$dir.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$dir.out")
front=$(freeport)
python3 "$work/balancer.py" "$front" "$port" &
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $front)).close()" 2>/dev/null && break; sleep 0.1; done

sshopts="-F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentityAgent=none -o ConnectTimeout=10 -o BatchMode=yes -o IdentitiesOnly=yes"
# via MODE SRC [CLAIM]: admin runs info through relay.py straight to gatehouse; exit status
via() { ssh $sshopts -i "$work/admin" -o ProxyCommand="python3 $work/relay.py $2 127.0.0.1 $port $1 ${3:-10.66.0.1}" admin@gatehouse -- --osh info >/dev/null 2>&1; }
# lb SRC [KEY]: admin runs info through the balancer from SRC; exit status
lb() { ssh $sshopts -i "${2:-$work/admin}" -o BindAddress="$1" -p "$front" admin@127.0.0.1 -- --osh info >/dev/null 2>&1; }
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
audited() { grep -h '"type":"auth"' "$dir"/audit/* | grep -c "\"ip_from\":\"$1\"" || true; }
penalty() { curl -s "http://$metrics/metrics" 2>/dev/null | sed -n "s/^gatehouse_connections_refused_penalty_total //p"; }
metric() { curl -s "http://$metrics/metrics" 2>/dev/null | sed -n "s/^gatehouse_proxy_protocol_connections_total{result=\"$1\"} //p"; }

ok=0; for i in $(seq 10); do lb 127.0.0.5 && ok=$((ok + 1)); done
row "baseline: logins from 127.0.0.5 through the balancer" 10 "$ok/10 in; audit auth lines with ip_from 127.0.0.5: $(audited 127.0.0.5)"

for m in v1:127.0.0.3 v2:127.0.0.13 v1slow:127.0.0.23; do
	mode=${m%%:*} src=${m#*:}
	before=$(metric untrusted_header) pbefore=$(penalty)
	in=0; for i in $(seq 10); do via "$mode" "$src" "10.66.0.$i" && in=$((in + 1)); done
	row "forged $mode header straight to gatehouse from $src, claiming 10.66.0.1-10" 10 "$in logged in; claimed addresses in the audit: $(grep -hc '10\.66\.0\.' "$dir"/audit/* | paste -sd+ | bc); refused as forged $(( $(metric untrusted_header) - before )), then $(( $(penalty) - pbefore )) by $src's penalty"
done

in=0; for i in $(seq 5); do via junk 127.0.0.4 10.66.1.1 && in=$((in + 1)); done
row "a junk line, then a forged v1 line, then SSH, from 127.0.0.4 (x/crypto/ssh skips lines before the version)" 5 "$in logged in as themselves: audit ip_from 127.0.0.4 $(audited 127.0.0.4), 10.66.1.1 $(audited 10.66.1.1)"

in=0; for i in $(seq 5); do ssh $sshopts -i "$work/admin" -o ProxyCommand="python3 $work/relay.py 127.0.0.6 127.0.0.1 $front v1 127.0.0.66" admin@gatehouse -- --osh info >/dev/null 2>&1 && in=$((in + 1)); done
row "a client behind the balancer (127.0.0.6) sends its own v1 header claiming 127.0.0.66" 5 "$in logged in, audited as 127.0.0.6 ($(audited 127.0.0.6)), never as 127.0.0.66 ($(audited 127.0.0.66))"

before=$(metric timeout)
python3 - "$port" <<'PY' &
import socket, sys, time
held = []
for _ in range(300):
    s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", int(sys.argv[1]))); held.append(s)
time.sleep(12)
PY
sleep 1
ok=0; for i in $(seq 5); do lb 127.0.0.5 && ok=$((ok + 1)); done
sleep 7
row "300 silent connections from the balancer's address (no header)" 300 "logins through the balancer meanwhile $ok/5; closed at the 5 s header deadline: timeout $before → $(metric timeout)"

big=$(python3 - "$port" <<'PY'
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
t = time.time()
try:
    s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\xff\xff" + b"A" * 70000)
except OSError: pass
try: d = s.recv(10)
except OSError as e: d = b""
print("closed after %.0f ms, %d bytes answered" % ((time.time() - t) * 1000, len(d)))
PY
)
row "a v2 header from the balancer's address claiming 65535 bytes, 70000 sent" 1 "$big; malformed=$(metric malformed)"

pbefore=$(penalty)
refused=0; for i in $(seq 10); do lb 127.0.0.9 "$work/stranger" || refused=$((refused + 1)); done
ok=0; for i in $(seq 10); do lb 127.0.0.5 && ok=$((ok + 1)); done
row "a wrong key from 127.0.0.9 through the balancer, then the same balancer from 127.0.0.5" "10 + 10" "127.0.0.9: $refused/10 refused, $(( $(penalty) - pbefore )) of them at the door by its penalty; 127.0.0.5: $ok/10 in"
kill -0 $(jobs -p | head -1) && row "gatehouse still serving" - yes
