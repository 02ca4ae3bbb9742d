#!/bin/sh
# Copy what a service needs at run time into OUT: the installed node_modules (pnpm's virtual store and
# links), and the folders of the package and of the workspace packages it depends on in production —
# without their tests and benchmarks. Run after `pnpm install --prod --filter-prod "<package>..."`.
set -eu
package=$1
out=$2
root=$(pwd)
mkdir -p "$out"
dirs=$(pnpm list --recursive --filter-prod "$package..." --depth -1 --parseable | sed "s#^$root/##")
[ -n "$dirs" ] || { echo "assemble: no workspace package matches $package" >&2; exit 1; }
# shellcheck disable=SC2086 # one word per folder
cp -a --parents package.json pnpm-workspace.yaml node_modules $dirs "$out"/
for dir in $dirs; do rm -rf "$out/$dir/test" "$out/$dir/bench" "$out/$dir/Dockerfile"; done
