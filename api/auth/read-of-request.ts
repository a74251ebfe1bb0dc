import { READS_WITH_SESSION, type ReadName } from './reads-with-session';

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
/** `/sites/<uuid>` and below: the site a request names (any hex UUID shape PostgreSQL can read). */
const SITE_PATH = new RegExp(`^/sites/(${UUID})(?:/|$)`);

/** What the sign-in statement of a request reads besides the caller. */
export type SignInRead =
  /** The caller only. */
  | { kind: 'caller' }
  /** The site of the path and the caller's membership there (siteId lower-cased). */
  | { kind: 'site'; siteId: string }
  /** A declaration's columns (reads-with-session.ts), with the values of its placeholders. */
  | { kind: 'declared'; name: ReadName; siteId: string | undefined; values: Record<string, unknown> };

const declarations = Object.entries(READS_WITH_SESSION).map(([name, declared]) => {
  const params: string[] = [];
  const source = declared.path
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(segment.slice(1));
      return `(${UUID})`;
    })
    .join('/');
  return {
    name: name as ReadName,
    method: declared.method,
    pattern: new RegExp(`^${source}$`),
    params,
    query: 'query' in declared ? declared.query : undefined,
  };
});

/**
 * The read a request's sign-in statement makes, from its method, path and query (Hono's reading of
 * the query string, read only for a declaration that takes one): a declaration's when one matches
 * and takes the query, else the path's site when it names one, else the caller alone.
 */
export function signInReadOf(
  method: string,
  path: string,
  query: () => Record<string, string | string[]>,
): SignInRead {
  for (const declared of declarations) {
    if (declared.method !== method) continue;
    const match = declared.pattern.exec(path);
    if (!match) continue;
    const values: Record<string, unknown> = Object.fromEntries(
      declared.params.map((param, i) => [param, match[i + 1]!.toLowerCase()]),
    );
    const fromQuery = declared.query ? declared.query(query()) : {};
    if (!fromQuery) break;
    return {
      kind: 'declared',
      name: declared.name,
      siteId: values.siteId as string | undefined,
      values: { ...fromQuery, ...values },
    };
  }
  const siteId = SITE_PATH.exec(path)?.[1];
  return siteId ? { kind: 'site', siteId: siteId.toLowerCase() } : { kind: 'caller' };
}

/**
 * Whether a sign-in statement making `read` is bounded by a rule, whatever the data: the caller alone
 * or with the path's site and membership (indexed lookups of one row each), or a declaration marked
 * bounded. Such statements take the sign-in connection (AppDeps.signInDb).
 */
export function isBoundedRead(read: SignInRead): boolean {
  return read.kind !== 'declared' || READS_WITH_SESSION[read.name].bounded;
}
