import fp from 'fastify-plugin';
import { TaskStore } from '../task-store.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The tasks data path (task-store.ts): the only thing routes call. */
    tasks: TaskStore;
  }
}

export default fp(
  async (app) => {
    app.decorate('tasks', new TaskStore({ db: app.db, cache: app.cache, metrics: app.metrics }));
  },
  { name: 'store', dependencies: ['database', 'cache', 'metrics'] },
);
