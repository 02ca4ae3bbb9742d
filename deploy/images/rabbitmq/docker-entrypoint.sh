#!/bin/sh
# The broker's config from the environment, in /tmp (the root filesystem may be read-only), then the
# server in the foreground. Secrets reach the file only, never the command line.
set -eu
: "${RABBITMQ_DEFAULT_USER:?set RABBITMQ_DEFAULT_USER}" "${RABBITMQ_DEFAULT_PASS:?set RABBITMQ_DEFAULT_PASS}"
mkdir -p /tmp/rabbitmq/log
umask 077
cat > /tmp/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER}
default_pass = ${RABBITMQ_DEFAULT_PASS}
default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}
loopback_users = none
listeners.tcp.default = 5672
management.tcp.port = 15672
prometheus.tcp.port = 15692
CONF
exec "$@"
