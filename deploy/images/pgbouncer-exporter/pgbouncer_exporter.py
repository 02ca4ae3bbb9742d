#!/usr/bin/python3
# PgBouncer exporter for PgBouncer 1.18, on Debian's prometheus-pgbouncer-exporter 1.7 (its collectors,
# metric names and dependencies). Run by the native stack and by the taskfleet/pgbouncer-exporter image.
#
# Why not the package's own command: it reads SHOW STATS columns that PgBouncer dropped in 1.8
# (total_requests), so it dies at start against 1.18 with KeyError; and it opens one admin connection
# at start and never another, so after a PgBouncer restart every scrape fails until it is restarted
# too. Here: today's SHOW STATS columns, a fresh admin connection per scrape, and pgbouncer_up (0 when
# the admin console does not answer, the scrape itself still succeeds).
#
#   pgbouncer_exporter.py --host 127.0.0.1 --port 9127 --pgbouncer-host H --pgbouncer-port P --pgbouncer-user U
# The password, when PgBouncer wants one, comes from libpq's PGPASSWORD; PGCONNECT_TIMEOUT bounds a connect.
import argparse
import logging
import os
from http.server import HTTPServer

import psycopg2
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_pgbouncer_exporter import collectors
from prometheus_pgbouncer_exporter.exposition import create_request_handler
from prometheus_pgbouncer_exporter.utils import get_connection

# SHOW STATS since PgBouncer 1.8: counts and times per database (times in microseconds).
STATS = {
    'total_xact_count': ('transactions_total', 'SQL transactions pooled'),
    'total_query_count': ('queries_total', 'SQL queries pooled'),
    'total_received': ('received_bytes_total', 'Bytes received from clients'),
    'total_sent': ('sent_bytes_total', 'Bytes sent to clients'),
    'total_xact_time': ('transaction_microseconds_total', 'Time spent in transactions'),
    'total_query_time': ('query_microseconds_total', 'Time spent in queries'),
    'total_wait_time': ('wait_microseconds_total', 'Time clients waited for a server connection'),
}

# SHOW POOLS: the package's client counts plus the server side and the longest wait.
POOLS = {
    **collectors.PoolsCollector.metrics,
    'sv_active': ('active_servers', 'Server connections linked to a client'),
    'sv_idle': ('idle_servers', 'Server connections idle and ready'),
    'maxwait': ('max_wait_seconds', 'Age of the oldest waiting client, seconds'),
}


class Stats(collectors.StatsCollector):
    metrics = STATS


class Pools(collectors.PoolsCollector):
    metrics = POOLS


class PerScrape:
    """Connects for each scrape; the package's collectors read through that connection."""

    def __init__(self, options):
        self.options = options

    def describe(self):
        return [GaugeMetricFamily('pgbouncer_up', 'PgBouncer admin console answered (1) or not (0)')]

    def collect(self):
        up = GaugeMetricFamily('pgbouncer_up', 'PgBouncer admin console answered (1) or not (0)')
        o = self.options
        try:
            connection = get_connection(o.pgbouncer_user, o.pgbouncer_port, o.pgbouncer_host)
        except psycopg2.Error as err:
            logging.warning('pgbouncer admin console: %s', str(err).strip())
            up.add_metric([], 0)
            yield up
            return
        try:
            families = []
            for collector in (
                Stats(connection=connection, databases=None),
                Pools(connection=connection, databases=None),
                collectors.DatabasesCollector(connection=connection, databases=None),
                collectors.ListsCollector(connection=connection),
            ):
                families.extend(collector.collect())
            up.add_metric([], 1)
        except psycopg2.Error as err:
            logging.warning('pgbouncer admin console: %s', str(err).strip())
            families = []
            up.add_metric([], 0)
        finally:
            connection.close()
        yield up
        yield from families


def main():
    p = argparse.ArgumentParser(prog='pgbouncer_exporter.py')
    p.add_argument('--host', default=os.environ.get('HOST', '127.0.0.1'))
    p.add_argument('--port', type=int, default=int(os.environ.get('PORT', '9127')))
    p.add_argument('--pgbouncer-host', default=os.environ.get('PGBOUNCER_HOST', '127.0.0.1'))
    p.add_argument('--pgbouncer-port', default=os.environ.get('PGBOUNCER_PORT', '6432'))
    p.add_argument('--pgbouncer-user', default=os.environ.get('PGBOUNCER_USER', 'pgbouncer'))
    options = p.parse_args()
    os.environ.setdefault('PGCONNECT_TIMEOUT', '3')
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    REGISTRY.register(PerScrape(options))
    licence = '/usr/share/doc/prometheus-pgbouncer-exporter/copyright'
    httpd = HTTPServer((options.host, options.port), create_request_handler(licence))
    logging.info('listening on %s:%d for PgBouncer %s:%s', options.host, options.port,
                 options.pgbouncer_host, options.pgbouncer_port)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
