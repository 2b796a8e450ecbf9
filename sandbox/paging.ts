/** The two paging styles the sandbox speaks: Bodhi/datagrepper pages and PDC's count/next/previous. */
import { HttpError, intParam } from './http.js';

export interface Page<T> {
  readonly items: T[];
  readonly page: number;
  readonly pages: number;
  readonly rowsPerPage: number;
  readonly total: number;
}

export function pageOf<T>(all: readonly T[], query: URLSearchParams, sizeParam: string, defaultSize: number, maxSize: number): Page<T> {
  const rowsPerPage = intParam(query, sizeParam, defaultSize, maxSize);
  const page = intParam(query, 'page', 1);
  if (rowsPerPage < 1) throw new HttpError(400, `${sizeParam} must be at least 1`);
  if (page < 1) throw new HttpError(400, 'page must be at least 1');
  const pages = Math.max(1, Math.ceil(all.length / rowsPerPage));
  return { items: all.slice((page - 1) * rowsPerPage, page * rowsPerPage), page, pages, rowsPerPage, total: all.length };
}

/** PDC: `{count, next, previous, results}`; page_size <= 0 returns the plain list, as PDC does. */
export function pdcPage<T>(all: readonly T[], query: URLSearchParams, baseUrl: string, path: string): unknown {
  const size = intParam(query, 'page_size', 20, 100);
  if (size <= 0) return all;
  const page = pageOf(all, query, 'page_size', 20, 100);
  const link = (n: number) => {
    const q = new URLSearchParams(query);
    q.set('page', String(n));
    return `${baseUrl}${path}?${q.toString()}`;
  };
  return {
    count: page.total,
    next: page.page < page.pages ? link(page.page + 1) : null,
    previous: page.page > 1 ? link(page.page - 1) : null,
    results: page.items,
  };
}
