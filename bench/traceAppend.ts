/**
 * Does the cost of a trace append grow with the trace already stored? Appends 1 KiB
 * chunks to a build with an empty trace and to one that already holds TRACE_MB, side
 * by side in one run, interleaved in rounds so machine noise hits both alike.
 */
import { coordinatorWithPendingBuilds, formatRate, takeBuild } from './support.js';

const CHUNK = Buffer.alloc(1024, 'a');
const ROUNDS = 5;
const APPENDS_PER_ROUND = 200;
const TRACE_MB = Number(process.env.TRACE_MB ?? 64);

export async function benchTraceAppend(): Promise<string[]> {
  const { coordinator, runnerToken } = await coordinatorWithPendingBuilds(2);
  try {
    const short = { ...(await takeBuild(coordinator.url, runnerToken)), length: 0 };
    const long = { ...(await takeBuild(coordinator.url, runnerToken)), length: 0 };
    const mib = Buffer.alloc(1024 * 1024, 'b');
    for (let i = 0; i < TRACE_MB; i++) long.length = await patch(coordinator.url, long, mib);

    const elapsed = { short: 0, long: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, build] of [['short', short], ['long', long]] as const) {
        const started = performance.now();
        for (let i = 0; i < APPENDS_PER_ROUND; i++) build.length = await patch(coordinator.url, build, CHUNK);
        elapsed[name] += performance.now() - started;
      }
    }
    const total = ROUNDS * APPENDS_PER_ROUND;
    return [
      formatRate('append 1 KiB to an empty trace', total, elapsed.short),
      formatRate(`append 1 KiB to a ${TRACE_MB} MiB trace`, total, elapsed.long),
      `ratio (long/short time per append): ${(elapsed.long / elapsed.short).toFixed(2)}`,
    ];
  } finally {
    await coordinator.stop();
  }
}

async function patch(url: string, build: { id: number; token: string; length: number }, chunk: Buffer): Promise<number> {
  const response = await fetch(`${url}/ci/api/v1/builds/${build.id}/trace.txt`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'text/plain', 'Build-Token': build.token, 'Content-Range': `${build.length}-${build.length + chunk.length}` },
    body: new Uint8Array(chunk),
  });
  await response.arrayBuffer();
  if (response.status !== 202) throw new Error(`PATCH answered ${response.status}`);
  return Number((response.headers.get('range') ?? '0-0').split('-')[1]);
}
