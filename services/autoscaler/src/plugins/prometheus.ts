// The Prometheus reader the scaling job uses (instant queries over HTTP, each bounded in time).
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';
import { PrometheusReader } from '../prometheus.ts';

declare module 'fastify' {
  interface FastifyInstance {
    prometheusReader: PrometheusReader;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    app.decorate(
      'prometheusReader',
      new PrometheusReader(config.PROMETHEUS_URL, config.prometheusTimeoutMs, config.AUTOSCALER_RATE_WINDOW),
    );
  },
  { name: 'prometheus' },
);
