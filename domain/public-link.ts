/**
 * A link in an email to a page of this service: `path` (starting with "/") under PUBLIC_BASE_URL,
 * whose own path is kept (a service behind a proxy at https://example.com/ks links to /ks/...) and
 * whose trailing slashes are not doubled. `new URL(path, base)` would drop the base's path.
 */
export function publicLink(publicBaseUrl: string, path: string): string {
  return new URL(`${publicBaseUrl.replace(/\/+$/, '')}${path}`).toString();
}
