#!/usr/bin/env bash
# Builds the web UI (web/) into .build/web, or the directory given: type-checks it with tsc,
# bundles it with esbuild (React from Debian's node-react, Bootstrap's CSS from
# libjs-bootstrap5; nothing from npm, nothing third-party committed), names every asset by its
# content hash and writes index.html pointing at them. The server serves the directory
# (`web_root`; by default `web` beside the binary's build folder: .build/web).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/web}
for tool in esbuild tsc sha256sum; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install esbuild node-typescript)" >&2; exit 2; }
done
bootstrap=/usr/share/javascript/bootstrap5/css/bootstrap.min.css
[ -f "$bootstrap" ] || { echo "error: $bootstrap is missing (apt-get install libjs-bootstrap5)" >&2; exit 2; }
[ -d /usr/share/nodejs/react ] || { echo "error: React is missing (apt-get install node-react node-react-dom)" >&2; exit 2; }

tsc -p web/tsconfig.json
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/assets"
NODE_PATH=/usr/share/nodejs esbuild web/src/main.tsx web/src/app.css --bundle --minify --format=esm --target=es2020 \
  --jsx=automatic --alias:chart.js=/usr/share/javascript/chart.js/chart.mjs --define:process.env.NODE_ENV='"production"' --log-level=warning \
  --entry-names='[name]-[hash]' --outdir="$stage/assets"
hash8() { sha256sum "$1" | cut -c1-12; }
cp "$bootstrap" "$stage/assets/bootstrap-$(hash8 "$bootstrap").css"
js=$(cd "$stage/assets" && ls main-*.js) css=$(cd "$stage/assets" && ls app-*.css) bs=$(cd "$stage/assets" && ls bootstrap-*.css)
sed -e "s/{{app.js}}/$js/" -e "s/{{app.css}}/$css/" -e "s/{{bootstrap.css}}/$bs/" web/index.html > "$stage/index.html"
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$stage" "$out"
trap - EXIT
chmod -R a+rX "$out"
echo "web UI: $out ($(du -sh "$out/assets" | cut -f1) of assets: $js, $css, $bs)"
