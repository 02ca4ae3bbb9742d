#!/bin/sh
# Alertmanager in a container: fill in the webhook URLs of alertmanager.yml from the environment, then run
# it. Alertmanager 0.25 expands no variables and its webhook has no url_file, so every line
#   url: '<default>' # env: NAME
# takes NAME's value when NAME is set and not empty (an http(s) URL, or the start fails), and keeps its
# local default otherwise — the same rule as the native stack's renderAlertmanagerConfig
# (shared/infra/src/components/prometheus.ts); shared/infra/test/alerts.test.ts checks that both agree.
#
#   alertmanager-entrypoint.sh [alertmanager flags]      render /etc/alertmanager/alertmanager.yml, run
#   alertmanager-entrypoint.sh --render < in > out       render only
# ALERTMANAGER_CONFIG (default /etc/alertmanager/alertmanager.yml) and ALERTMANAGER_RENDERED (default
# /tmp/alertmanager.yml) move the input and the output.
set -eu

render() {
  # Built by concatenation: the URL never passes through a regular expression replacement (& and \ stay).
  awk '
    /^[ \t]*(- )?url: .* # env: [A-Z0-9_]+$/ {
      name = $0
      sub(/.*# env: /, "", name)
      value = ENVIRON[name]
      if (value != "") {
        if (value !~ /^https?:\/\/[^ \t]+$/) {
          print "alertmanager.yml: " name " is not an http(s) URL" > "/dev/stderr"
          bad = 1
        } else {
          gsub(/\047/, "\047\047", value)
          print substr($0, 1, index($0, "url: ") + 4) "\047" value "\047 # env: " name
          next
        }
      }
    }
    { print }
    END { exit bad }
  '
}

if [ "${1-}" = --render ]; then
  render
  exit
fi
config=${ALERTMANAGER_CONFIG:-/etc/alertmanager/alertmanager.yml}
rendered=${ALERTMANAGER_RENDERED:-/tmp/alertmanager.yml}
render < "$config" > "$rendered"
exec /usr/bin/prometheus-alertmanager --config.file="$rendered" "$@"
