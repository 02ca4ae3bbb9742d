#!/usr/bin/env bash
# Create .env for docker compose from .env.example on first use, with a fresh random secret wherever the
# example says "generate". An existing .env is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f .env ] && exit 0
umask 077
while IFS= read -r line; do
  if [[ $line =~ ^([A-Z0-9_]+)=generate$ ]]; then
    printf '%s=%s\n' "${BASH_REMATCH[1]}" "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  else
    printf '%s\n' "$line"
  fi
done < .env.example > .env
echo "created .env with random secrets (kept out of git)" >&2
