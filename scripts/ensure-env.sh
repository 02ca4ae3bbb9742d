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
  elif [[ $line =~ ^([A-Z0-9_]+)=generate-jwks$ ]]; then
    # Single-quoted: compose takes the JSON literally.
    printf "%s='%s'\n" "${BASH_REMATCH[1]}" "$(node -e "
      const { generateKeyPairSync, randomUUID } = require('node:crypto');
      const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
      process.stdout.write(JSON.stringify({ keys: [{ ...jwk, kid: randomUUID() }] }));")"
  else
    printf '%s\n' "$line"
  fi
done < .env.example > .env
echo "created .env with random secrets (kept out of git)" >&2
