import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import type { AppEnv } from '../deps';

/**
 * `/docs`: Swagger UI from the pinned `swagger-ui-dist` package in node_modules, on the API's own
 * origin. The page works offline and its CSP lets it load nothing from another host (API.md); the
 * assets are the same bytes for the life of the process, so browsers may keep them for a day.
 */
const ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;
type Asset = keyof typeof ASSETS;

const distDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** Swagger UI styles elements through style attributes and shows its logos as data: images. */
export const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>KS Cloud API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

// validatorUrl null: Swagger UI would otherwise ask validator.swagger.io about the document.
const init = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  validatorUrl: null,
  deepLinking: true,
});
`;

export function docsRoutes() {
  const cache = new Map<Asset, Promise<Buffer>>();
  const asset = (name: Asset) => {
    let bytes = cache.get(name);
    if (!bytes) {
      bytes = readFile(join(distDir, name));
      cache.set(name, bytes);
    }
    return bytes;
  };
  const headers = (type: string) => ({
    'content-type': type,
    'content-security-policy': DOCS_CSP,
    'cache-control': 'public, max-age=86400',
  });

  // One route for every file under /docs/, init.js included: a parameter beside static siblings is
  // a pattern Hono's RegExpRouter refuses, and one such route left the whole API on its slower
  // TrieRouter (issue 15: route matching was 2 % of the API's CPU per remote opening).
  return new Hono<AppEnv>()
    .get('/', (c) =>
      c.body(page, 200, { ...headers('text/html; charset=utf-8'), 'cache-control': 'no-cache' }),
    )
    .get('/:file', async (c) => {
      const name = c.req.param('file');
      if (name === 'init.js') return c.body(init, 200, headers('text/javascript; charset=utf-8'));
      if (!Object.hasOwn(ASSETS, name)) return c.notFound();
      return c.body(new Uint8Array(await asset(name as Asset)), 200, headers(ASSETS[name as Asset]));
    });
}
