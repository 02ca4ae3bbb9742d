// The errors the worker's own HTTP endpoints (health, metrics) can answer with: the common ones
// (docs/errors.md; a test keeps the two in step).
import { commonErrors } from '@taskfleet/service';

export const WorkerErrors = commonErrors('WORKER');
