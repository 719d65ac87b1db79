// The runners of a claim storm (claimStorm.ts), run in a worker thread (claimStormWorker.mjs).
import { parentPort, workerData } from 'node:worker_threads';
import { stormPolls } from './claimStorm.js';

const { url, tokens } = workerData as { url: string; tokens: string[] };
parentPort!.postMessage(await stormPolls(url, tokens));
