#!/usr/bin/env bash
# Refreshes the asciinema player the web console embeds (internal/console/assets): installs the
# asciinema-player npm package (Apache-2.0) in a temporary directory and copies its built bundle,
# its stylesheet and its license. Commit the result; nothing is loaded from a CDN at run time.
#   scripts/refresh-asciinema-player.sh [VERSION]     (default: latest)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-latest}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm install --silent --no-audit --no-fund "asciinema-player@$version" >/dev/null)
pkg=$tmp/node_modules/asciinema-player
license=$(node -p "require('$pkg/package.json').license")
if [ "$license" != "Apache-2.0" ]; then
  echo "asciinema-player's license is now $license: check it before embedding" >&2
  exit 1
fi
dest=internal/console/assets
cp "$pkg/dist/bundle/asciinema-player.min.js" "$pkg/dist/bundle/asciinema-player.css" "$dest/"
cp "$pkg/LICENSE" "$dest/asciinema-player.LICENSE"
echo "asciinema-player $(node -p "require('$pkg/package.json').version") copied to $dest"
