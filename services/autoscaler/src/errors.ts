// The errors the autoscaler's own HTTP endpoints (health, metrics) can answer with: the common ones
// (docs/errors.md; a test keeps the two in step). It takes no input: scaling is its loop, not an API.
import { commonErrors } from '@taskfleet/service';

export const AutoscalerErrors = commonErrors('AUTOSCALER');
