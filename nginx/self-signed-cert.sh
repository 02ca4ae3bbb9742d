#!/bin/sh
# Create a self-signed TLS certificate for the edge in DIR (tls.crt, tls.key) unless one is there.
# For local use: browsers and clients must be told to trust it (curl --cacert DIR/tls.crt). In
# production, put your own certificate in DIR instead — this script never replaces an existing one.
set -eu
dir=${1:?usage: self-signed-cert.sh DIR}
[ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ] && exit 0
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=localhost/O=Taskfleet (self-signed, local use only)" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 644 "$dir/tls.crt"
echo "created a self-signed TLS certificate in $dir (local use only)" >&2
