import fs from 'node:fs/promises';
import type Koa from 'koa';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { specPath } from '../http/openapiRouter.js';
import { apiReferencePage, redocBundle, webViewPage, webViewScript, webViewStyles } from '../web/assets.js';

/**
 * The page's own script only; ansi_up colours come as inline style attributes, and the
 * page sets element styles, hence 'unsafe-inline' for styles alone.
 */
const WEB_VIEW_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/** Redoc runs its search in a worker made from a blob and styles itself inline. */
const API_REFERENCE_POLICY = "default-src 'self'; script-src 'self' blob:; worker-src 'self' blob:; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'";

export function webViewHandlers(_deps: AppDeps): OperationHandlers {
  return {
    async getWebView(_c, ctx) {
      sendAsset(ctx, 'text/html; charset=utf-8', await webViewPage(), WEB_VIEW_POLICY);
    },
    async getWebViewScript(_c, ctx) {
      sendAsset(ctx, 'application/javascript; charset=utf-8', await webViewScript());
    },
    async getWebViewStyles(_c, ctx) {
      sendAsset(ctx, 'text/css; charset=utf-8', await webViewStyles());
    },
    async getApiReference(_c, ctx) {
      sendAsset(ctx, 'text/html; charset=utf-8', await apiReferencePage(), API_REFERENCE_POLICY);
    },
    async getApiReferenceScript(_c, ctx) {
      sendAsset(ctx, 'application/javascript; charset=utf-8', await redocBundle());
    },
    async getOpenApiDocument(_c, ctx) {
      sendAsset(ctx, 'application/yaml; charset=utf-8', await fs.readFile(specPath, 'utf8'));
    },
  };
}

function sendAsset(ctx: Koa.Context, contentType: string, body: string, policy?: string): void {
  ctx.status = 200;
  ctx.body = body;
  ctx.set('Content-Type', contentType);
  // Fetched again on every load (small, from memory): a new release is seen at once.
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Referrer-Policy', 'same-origin');
  if (policy) {
    ctx.set('Content-Security-Policy', policy);
    ctx.set('X-Frame-Options', 'DENY');
  }
}
