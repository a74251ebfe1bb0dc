/**
 * The floors of the code base (README, Architecture): arrows point down. Every import of every
 * TypeScript file is read (with the TypeScript parser, so `import type` is told apart) and checked
 * against one table.
 */
import { existsSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse, ROOT, sourceFiles, walk } from '../support/source-files';

/**
 * What each folder may import from the project, lowest floor first. `types`: folders it may import
 * types from only (erased at run time; a workflow names its activities' type for proxyActivities).
 * Folders not listed (scripts, bench, test) sit on top and may import anything.
 */
const FLOORS: Record<string, { may: string[]; types?: string[] }> = {
  domain: { may: [] },
  config: { may: [] },
  db: { may: ['domain'] },
  // Logs and metrics of the processes (pino, prom-client); a logged error loses its query's values.
  observability: { may: ['config', 'db'] },
  emails: { may: ['config', 'db', 'domain'] },
  // Multi-table operations, each in its transaction: what handlers and activities both call.
  operations: { may: ['db', 'domain', 'emails', 'observability'] },
  // The device gateway; its process (gateway/main.ts) also runs an outbox relay.
  gateway: { may: ['config', 'db', 'domain', 'observability', 'outbox'] },
  // The simulator verifies PINs and keeps lists the way a device does (domain/device-pin.ts, access-sync.ts).
  'iq-sim': { may: ['domain', 'gateway'] },
  activities: { may: ['db', 'domain', 'emails', 'gateway', 'operations'] },
  // Workflow code runs in the sandbox: the rules and its own messages, and its activities' types.
  workflows: { may: ['domain'], types: ['activities'] },
  // config: a deadline scope of Temporal calls (config/temporal-call-context.ts).
  'workflows/client': { may: ['config', 'domain', 'workflows'] },
  outbox: { may: ['config', 'db', 'domain', 'emails', 'observability', 'operations', 'workflows/client'] },
  // activities: the redemption announcer its relay runs (the receipt, the IQ push), as the worker's does.
  api: {
    may: [
      'activities',
      'config',
      'db',
      'domain',
      'emails',
      'gateway',
      'observability',
      'operations',
      'outbox',
      'workflows/client',
    ],
  },
  worker: { may: ['activities', 'config', 'db', 'emails', 'gateway', 'observability', 'outbox'] },
  // Beside the floors: the servers the product runs on; db for libpq's URL forms (db/connection-url.ts).
  infra: { may: ['db', 'workflows'] },
};

/** The floors from the top down, as README's architecture table lists them: imports point down. */
const ORDER = [
  'worker',
  'api',
  'activities',
  'iq-sim',
  'gateway',
  'outbox',
  'operations',
  'workflows/client',
  'workflows',
  'emails',
  'observability',
  'db',
  'config',
  'domain',
];

/** Packages a folder may use at run time, where that is narrower than "any dependency". */
const PACKAGES: Record<string, RegExp> = {
  // The ground floor: hashing only.
  domain: /^node:crypto$/,
  // The workflow sandbox: deterministic code only.
  // async-mutex: promises only (the safe-message-handlers sample's lock).
  workflows: /^(@temporalio\/(workflow|common)|async-mutex)$/,
};

interface Import {
  specifier: string;
  typeOnly: boolean;
}

function importsOf(file: string): Import[] {
  const found: Import[] = [];
  walk(parse(file), (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!bindings &&
            ts.isNamedImports(bindings) &&
            bindings.elements.length > 0 &&
            bindings.elements.every((e) => e.isTypeOnly)));
      found.push({ specifier: node.moduleSpecifier.text, typeOnly });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, typeOnly: false });
    }
  });
  return found;
}

/** The project file a relative specifier names (extension and index resolved as the bundler does). */
function resolveFile(from: string, specifier: string): string {
  const base = posix.join(posix.dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, `${base}/index.ts`]) {
    const path = join(ROOT, candidate);
    if (existsSync(path) && statSync(path).isFile()) return candidate;
  }
  throw new Error(`${from}: cannot resolve ${specifier}`);
}

/** The floor a file belongs to: its top folder, or the longest listed folder that holds it. */
function floorOf(file: string): string {
  const listed = Object.keys(FLOORS)
    .filter((floor) => file.startsWith(`${floor}/`))
    .sort((a, b) => b.length - a.length)[0];
  return listed ?? file.split('/')[0]!;
}

const files = sourceFiles();
const graph = new Map(
  files.map((file) => [
    file,
    importsOf(file).map((imp) => ({
      ...imp,
      target: imp.specifier.startsWith('.') ? resolveFile(file, imp.specifier) : undefined,
    })),
  ]),
);

describe('layers', () => {
  it('finds the files and their imports', () => {
    expect(files).toContain('domain/subscription.ts');
    expect(graph.get('db/queries/slots.ts')?.map((i) => i.target)).toContain('domain/subscription.ts');
  });

  it('the table keeps the floors the architecture names', () => {
    expect(FLOORS.domain?.may).toEqual([]);
    expect(FLOORS.db?.may).toEqual(['domain']);
    for (const upper of ['workflows', 'workflows/client', 'api', 'activities', 'operations', 'outbox']) {
      expect(FLOORS.db?.may).not.toContain(upper);
      expect(FLOORS.operations?.may).not.toContain(upper);
    }
    for (const io of ['api', 'db', 'operations', 'emails', 'gateway'])
      expect(FLOORS.workflows?.may).not.toContain(io);
  });

  it('every floor the table lets a folder import lies below it', () => {
    const upward: string[] = [];
    for (const [floor, rule] of Object.entries(FLOORS)) {
      if (!ORDER.includes(floor)) continue;
      for (const lower of rule.may) {
        if (ORDER.indexOf(lower) <= ORDER.indexOf(floor)) upward.push(`${floor} -> ${lower}`);
      }
    }
    expect(upward).toEqual([]);
    expect(Object.keys(FLOORS).filter((f) => !ORDER.includes(f))).toEqual(['infra']);
  });

  it('every import points down the table', () => {
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const floor = floorOf(file);
      const rule = FLOORS[floor];
      if (!rule) continue;
      for (const imp of imports) {
        if (!imp.target) {
          const allowed = PACKAGES[floor];
          if (allowed && !imp.typeOnly && !allowed.test(imp.specifier)) {
            wrong.push(`${file} imports the package ${imp.specifier}`);
          }
          continue;
        }
        const to = floorOf(imp.target);
        if (to === floor || rule.may.includes(to)) continue;
        if (imp.typeOnly && rule.types?.includes(to)) continue;
        wrong.push(`${file} (${floor}) imports ${imp.target} (${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('no code reachable from the workflow bundle imports a Node module', () => {
    const seen = new Set<string>();
    const offending: string[] = [];
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const imp of graph.get(file) ?? []) {
        if (imp.typeOnly) continue;
        if (imp.target) walk(imp.target);
        else if (imp.specifier.startsWith('node:')) offending.push(`${file} imports ${imp.specifier}`);
      }
    };
    walk('workflows/index.ts');
    expect(seen.size).toBeGreaterThan(5);
    expect(offending).toEqual([]);
  });
});
