import type Koa from 'koa';

/**
 * Aborts when the client hangs up before its answer was sent: a held long poll then lets go
 * of everything it holds. The connection closing after the answer is not "gone". The signal
 * is made on first use: an idle poll answered at once never needs one, and an AbortController
 * with its listener is a tenth of that poll's cost (issue 7). A client that left before the
 * first use gets a signal aborted already.
 */
export function clientGoneSignal(ctx: Koa.Context): () => AbortSignal {
  let signal: AbortSignal | undefined;
  return () => {
    if (signal) return signal;
    const { res } = ctx;
    if (res.closed && !res.writableFinished) return (signal = AbortSignal.abort());
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    return (signal = controller.signal);
  };
}
