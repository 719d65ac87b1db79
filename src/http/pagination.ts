import type Koa from 'koa';
import type { Context as OpenApiContext } from 'openapi-backend';

/** GitLab's defaults; openapi.yaml caps `per_page` at 100 and refuses anything below 1. */
const DEFAULT_PER_PAGE = 20;

/** The page a listing request asks for, and the rows that make it up. */
export interface PageRequest {
  page: number;
  perPage: number;
  limit: number;
  offset: number;
}

/** `page` and `per_page` of the query (already validated), as a slice of rows. */
export function pageRequest(c: OpenApiContext): PageRequest {
  const page = positiveInteger(c.request.query.page) ?? 1;
  const perPage = positiveInteger(c.request.query.per_page) ?? DEFAULT_PER_PAGE;
  return { page, perPage, limit: perPage, offset: (page - 1) * perPage };
}

/**
 * GitLab's pagination headers (API::Helpers#add_pagination_headers, Kaminari's numbers):
 * X-Total, X-Total-Pages, X-Per-Page, X-Page, X-Next-Page and X-Prev-Page (empty when
 * there is none), and a `Link` with prev, next, first and last in that order, each the
 * request's own URL and query with `page` and `per_page` set. Unlike Kaminari, an empty
 * listing has one (empty) page, so `last` never points at page 0, as GitLab 9 did it.
 * A page past the end has neither a next nor a previous page, as in Kaminari.
 */
export function setPaginationHeaders(ctx: Koa.Context, request: PageRequest, total: number): void {
  const totalPages = Math.max(1, Math.ceil(total / request.perPage));
  const outOfRange = request.page > totalPages;
  const next = !outOfRange && request.page < totalPages ? request.page + 1 : undefined;
  const prev = !outOfRange && request.page > 1 ? request.page - 1 : undefined;
  const pageUrl = (page: number) => {
    const query = new URLSearchParams(ctx.querystring);
    query.set('page', String(page));
    query.set('per_page', String(request.perPage));
    query.sort();
    // Koa 3's ctx.origin is the Origin header; the request's own address is protocol and Host.
    return `${ctx.protocol}://${ctx.host}${ctx.path}?${query.toString()}`;
  };
  const links = [
    ...(prev === undefined ? [] : [`<${pageUrl(prev)}>; rel="prev"`]),
    ...(next === undefined ? [] : [`<${pageUrl(next)}>; rel="next"`]),
    `<${pageUrl(1)}>; rel="first"`,
    `<${pageUrl(totalPages)}>; rel="last"`,
  ];
  ctx.set({
    'X-Total': String(total),
    'X-Total-Pages': String(totalPages),
    'X-Per-Page': String(request.perPage),
    'X-Page': String(request.page),
    'X-Next-Page': next === undefined ? '' : String(next),
    'X-Prev-Page': prev === undefined ? '' : String(prev),
    Link: links.join(', '),
  });
}

/** A page number past 2^53 is as far past the end as that one; it must not fall back to page 1. */
function positiveInteger(value: string | string[] | undefined): number | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  const number = Number(first);
  return first !== undefined && first !== '' && Number.isInteger(number) && number >= 1 ? Math.min(number, Number.MAX_SAFE_INTEGER) : undefined;
}
