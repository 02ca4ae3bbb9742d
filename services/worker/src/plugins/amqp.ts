// The worker's RabbitMQ connection, shared by its jobs: each declares what it sets up on a (new)
// connection and what it drops when the connection is lost; the connection reconnects with back-off
// and replays every setup. It opens when the app is ready, after every job has declared its setup.

import { ReconnectingConnection } from '@taskfleet/events';
import type { ChannelModel } from 'amqplib';
import fp from 'fastify-plugin';
import type { Config } from '../config.ts';

export interface AmqpLink {
  /** Run on every (re)connection, in the order declared; a throw counts as a failed connection. */
  onConnect(setup: (connection: ChannelModel) => Promise<void>): void;
  onLost(drop: () => void): void;
  readonly connected: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    amqp: AmqpLink;
  }
}

export default fp<{ config: Config }>(
  async (app, { config }) => {
    const setups: ((connection: ChannelModel) => Promise<void>)[] = [];
    const drops: (() => void)[] = [];
    const { amqpConnected } = app.workerMetrics;
    const connection = new ReconnectingConnection({
      url: config.AMQP_URL,
      async setup(c) {
        for (const setup of setups) await setup(c);
      },
      onConnected: () => amqpConnected.set(1),
      onLost: () => {
        for (const drop of drops) drop();
        amqpConnected.set(0);
      },
      log: (msg, err) => app.log.warn({ err }, msg),
    });
    app.decorate('amqp', {
      onConnect: (setup) => setups.push(setup),
      onLost: (drop) => drops.push(drop),
      get connected() {
        return connection.connected;
      },
    } satisfies AmqpLink);
    // Without RabbitMQ the worker can't relay, but it stays up to drain the backlog when it returns.
    app.health.add({
      name: 'amqp',
      critical: false,
      check: () => {
        if (!connection.connected) throw new Error('reconnecting');
      },
    });
    app.addHook('onReady', async () => connection.start());
    app.addHook('onClose', async () => connection.stop());
  },
  { name: 'amqp', dependencies: ['metrics', 'health'] },
);
