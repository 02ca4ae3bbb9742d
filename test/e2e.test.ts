// The end-to-end suite (support/e2e-suite.ts) on a native stack of its own, every service a real
// process, faults by signal. The same suite runs on docker-compose.yml in test/containers/e2e.test.ts.
import { E2E_LIMITS, e2eSuite } from './support/e2e-suite.ts';
import { nativeTarget } from './support/native-target.ts';

e2eSuite(nativeTarget({ serviceEnv: E2E_LIMITS }));
