/**
 * The workflow bundle preloads the workflow modules (worker/create-worker.ts
 * WORKFLOW_BUNDLER_OPTIONS): they are evaluated once per workflow thread and shared by every workflow
 * it runs, instead of once per workflow. That is sound only while no module of the workflow code
 * keeps state of its own at module scope, which would leak from one workflow to the next. The SDK
 * freezes what the modules export; this holds the rest: at the top level of every project module in
 * the bundle, no `let` or `var`, no object made with `new`, and object and array literals only when
 * declared read-only or exported (frozen).
 */
import { readFile } from 'node:fs/promises';
import ts from 'typescript';
import { describe, expect, inject, it } from 'vitest';

/** What in a module's top level could hold state across the workflows sharing it. */
function moduleStateOf(fileName: string, source: string): string[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const where = (node: ts.Node) =>
    `${fileName}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  /** `new` outside any function: evaluated once, at preload. */
  const findNew = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return;
    if (ts.isNewExpression(node))
      found.push(`${where(node)}: new ${node.expression.getText()} at module scope`);
    ts.forEachChild(node, findNew);
  };
  const readOnly = (d: ts.VariableDeclaration) => {
    const type = d.type?.getText() ?? '';
    const init = d.initializer;
    return (
      type.startsWith('Readonly<') ||
      type.startsWith('readonly ') ||
      (!!init && ts.isAsExpression(init) && init.type.getText() === 'const')
    );
  };
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      const exported = statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) ?? false;
      if (!(statement.declarationList.flags & ts.NodeFlags.Const)) {
        found.push(`${where(statement)}: a module-scope variable that is not const`);
      }
      for (const d of statement.declarationList.declarations) {
        const init = d.initializer;
        if (!init) continue;
        findNew(init);
        const literal = ts.isObjectLiteralExpression(init) || ts.isArrayLiteralExpression(init);
        if (literal && !exported && !readOnly(d)) {
          found.push(`${where(d)}: ${d.name.getText()} is a mutable literal at module scope`);
        }
      }
    } else if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        if (
          ts.isPropertyDeclaration(member) &&
          member.modifiers?.some((m) => m.kind === ts.SyntaxKind.StaticKeyword)
        ) {
          found.push(`${where(member)}: static field ${member.name.getText()}`);
        }
      }
    } else if (ts.isExpressionStatement(statement)) {
      findNew(statement);
    }
  }
  return found;
}

describe('modules preloaded into the workflow threads', () => {
  it('the check finds module state where there is some', () => {
    const source = [
      'let counter = 0;',
      'var legacy = 1;',
      'const cache = new Map<string, number>();',
      'const nested = { seen: new Set() };',
      'const list = [1, 2];',
      'const fine: readonly number[] = [1, 2];',
      'const alsoFine = { a: 1 } as const;',
      'export const exported = { a: 1 };',
      'const later = () => new Map();',
      'class Registry { static entries = []; }',
    ].join('\n');
    expect(moduleStateOf('sample.ts', source)).toEqual([
      'sample.ts:1: a module-scope variable that is not const',
      'sample.ts:2: a module-scope variable that is not const',
      'sample.ts:3: new Map at module scope',
      'sample.ts:4: new Set at module scope',
      'sample.ts:4: nested is a mutable literal at module scope',
      'sample.ts:5: list is a mutable literal at module scope',
      'sample.ts:10: static field entries',
    ]);
  });

  it('the bundle preloads the workflows, and none of its project modules keeps state', async () => {
    const bundle = await readFile(inject('workflowBundlePath'), 'utf8');
    const preload =
      /exports\.preloadModules = function preloadModules\(\) \{([^}]*)\}/.exec(bundle)?.[1] ?? '';
    expect(preload).toContain('"./workflows/index.ts"');

    const modules = [...bundle.matchAll(/^\/\*\*\*\/ "\.\/((?!node_modules\/)[^"]+\.ts)"/gm)].map(
      (m) => m[1]!,
    );
    expect(modules).toContain('workflows/subscription/workflow.ts');
    expect(modules).toContain('domain/subscription.ts');
    const found = await Promise.all(
      modules.map(async (path) =>
        moduleStateOf(path, await readFile(new URL(`../../${path}`, import.meta.url), 'utf8')),
      ),
    );
    expect(found.flat()).toEqual([]);
  });
});
