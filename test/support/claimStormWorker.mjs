// A worker thread's entry for the claim storm's runners. A worker does not inherit tsx's
// loader from `node --import tsx` (tsx issue #354), so it registers it before loading them.
import { register } from 'tsx/esm/api';

register();
await import('./claimStormRunners.ts');
