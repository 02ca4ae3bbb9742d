#!/bin/sh
# Docker secrets for images that read their settings from the environment: for every
# NAME_FILE=/run/secrets/… export NAME with that file's contents, drop NAME_FILE, then run the command.
# Only paths under /run/secrets count: other *_FILE variables (an image's own) are left as they are. Mounted into each service as a Swarm config and put in front of the image's entrypoint
# (deploy/swarm/stack.yml), so no image needs to know about secrets. Values are never printed.
set -eu
[ $# -gt 0 ] || { echo 'secrets-env: no command to run (a stack entrypoint clears the image command: set command too)' >&2; exit 2; }
for name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)_FILE=\/run\/secrets\/.*/\1/p'); do
  eval "file=\${${name}_FILE}"
  if [ ! -r "$file" ]; then
    echo "secrets-env: ${name}_FILE names $file, which is missing or unreadable (is the secret attached to this service?)" >&2
    exit 1
  fi
  eval "${name}=\$(cat \"\$file\")"
  export "${name?}"
  unset "${name}_FILE"
done
exec "$@"
