#!/usr/bin/env bash
# Attacks on the SSH algorithms gatehouse offers, with the real ssh client: every weak key
# exchange, cipher, MAC and host key algorithm is asked for alone and must be refused; the
# client's defaults must settle on AES-GCM; ssh-audit must find nothing. Exit 1 if anything did
# not hold.   ./scripts/attack-ops.sh
set -u
cd "$(dirname "$0")/.."
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$W"' EXIT
go build -o "$W/gatehouse" ./cmd/gatehouse || exit 1
PORT=$((20000 + $$ % 20000)); D="$W/data"; mkdir -p "$D"
# Many refused handshakes from one address would earn it a per-source penalty: exempt loopback.
printf 'perSourcePenaltyExemptList = ["127.0.0.1"]\n' >"$D/gatehouse.toml"
"$W/gatehouse" serve --data-dir "$D" --listen 127.0.0.1:$PORT >"$W/out" 2>"$W/err" &
for _ in $(seq 50); do grep -q 'listening on' "$W/out" 2>/dev/null && break; sleep 0.1; done
base=(-F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes
      -i "$D/admin_ed25519" -p "$PORT")
fail=0
refused() { # what, ssh options…
	what=$1; shift
	if ssh "${base[@]}" "$@" admin@127.0.0.1 -- --osh info >/dev/null 2>"$W/e"; then
		echo "NOT REFUSED: $what"; fail=1
	elif grep -q 'Unable to negotiate' "$W/e"; then
		echo "refused: $what"
	else
		echo "FAILED otherwise: $what: $(head -c 200 "$W/e")"; fail=1
	fi
}
refused "kex diffie-hellman-group14-sha1" -o KexAlgorithms=diffie-hellman-group14-sha1
refused "kex diffie-hellman-group1-sha1" -o KexAlgorithms=diffie-hellman-group1-sha1
refused "kex ecdh-sha2-nistp256" -o KexAlgorithms=ecdh-sha2-nistp256
refused "kex diffie-hellman-group-exchange-sha1" -o KexAlgorithms=diffie-hellman-group-exchange-sha1
refused "aes128-ctr + hmac-sha1-96" -o Ciphers=aes128-ctr -o MACs=hmac-sha1-96
refused "aes128-ctr + hmac-sha1" -o Ciphers=aes128-ctr -o MACs=hmac-sha1
refused "cipher aes128-cbc" -o Ciphers=aes128-cbc
refused "cipher 3des-cbc" -o Ciphers=3des-cbc
refused "host key ssh-rsa" -o HostKeyAlgorithms=ssh-rsa
refused "host key ecdsa-sha2-nistp256" -o HostKeyAlgorithms=ecdsa-sha2-nistp256
if ssh -v "${base[@]}" admin@127.0.0.1 -- --osh info 2>&1 >/dev/null | grep -q 'cipher: aes128-gcm@openssh.com'; then
	echo "held: the default client uses aes128-gcm@openssh.com"
else
	echo "NOT HELD: the default client does not use AES-GCM"; fail=1
fi
if command -v ssh-audit >/dev/null; then
	bad=$(ssh-audit -n -l warn -p "$PORT" 127.0.0.1 | grep -E '\[(warn|fail)\]' | grep -vE '^\((kex)\) (mlkem768x25519-sha256|kex-strict-s-v00@openssh.com) +-- \[warn\] unknown algorithm$')
	if [ -n "$bad" ]; then echo "ssh-audit: $bad"; fail=1; else echo "held: ssh-audit finds nothing (but the 2 algorithms its Debian version predates)"; fi
fi
exit $fail
