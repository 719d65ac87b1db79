import type Koa from 'koa';

/**
 * Aborts when the client hangs up before its answer was sent: a held long poll then lets go
 * of everything it holds. The connection closing after the answer is not "gone".
 */
export function clientGoneSignal(ctx: Koa.Context): AbortSignal {
  const controller = new AbortController();
  const { res } = ctx;
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  return controller.signal;
}
