// Failure messages and stack traces travel encoded like every other payload (they can quote a
// command or a path). The SDK loads this by path with require(), in workers, clients and the
// workflow bundle alike: hence CommonJS (.cts) and no Node imports.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
