/**
 * Workflows, signals, queries and updates are named in one place each: the `messages.ts` file beside
 * the workflow (defineSignal/defineQuery/defineUpdate) and the workflow function itself. Everything
 * else refers to those definitions, so the compiler follows a call into the workflow and a wire name
 * cannot drift. This scan fails on any Temporal call that names one by a string.
 */
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse, sourceFiles, walk } from '../support/source-files';

/** Methods of the client, handles and workflow API whose first argument names a workflow or message. */
const BY_NAME = new Set([
  'start',
  'execute',
  'signal',
  'query',
  'executeUpdate',
  'startUpdate',
  'executeUpdateWithStart',
  'startUpdateWithStart',
  'signalWithStart',
  'executeChild',
  'startChild',
]);
const DEFINITIONS = new Set(['defineSignal', 'defineQuery', 'defineUpdate']);

const isMessagesFile = (file: string) => /(^|\/)messages\.ts$/.test(file);
const isName = (node: ts.Node | undefined) =>
  !!node &&
  (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node));

/** `foo(…)` or `a.b.foo(…)`: the called name. */
function calledName(expression: ts.Expression): string | undefined {
  if (ts.isIdentifier(expression)) return expression.text;
  if (ts.isPropertyAccessExpression(expression)) return expression.name.text;
  return undefined;
}

function offences(file: string): string[] {
  const source = parse(file);
  const found: string[] = [];
  const where = (node: ts.Node) =>
    `${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
  walk(source, (node) => {
    if (ts.isNewExpression(node) && calledName(node.expression) === 'WithStartWorkflowOperation') {
      if (isName(node.arguments?.[0])) found.push(`${where(node)} new WithStartWorkflowOperation by name`);
      return;
    }
    if (!ts.isCallExpression(node)) return;
    const name = calledName(node.expression);
    if (!name) return;
    if (DEFINITIONS.has(name) && !isMessagesFile(file))
      found.push(`${where(node)} ${name} outside a messages file`);
    // Hono's c.req.query('name') reads a query parameter: not Temporal.
    const receiver = ts.isPropertyAccessExpression(node.expression) ? node.expression.expression : undefined;
    const honoRequest = !!receiver && ts.isPropertyAccessExpression(receiver) && receiver.name.text === 'req';
    if (BY_NAME.has(name) && !honoRequest && isName(node.arguments[0])) {
      found.push(`${where(node)} ${name}(${node.arguments[0]!.getText(source)})`);
    }
  });
  return found;
}

describe('Temporal calls', () => {
  const files = sourceFiles();

  it('name no workflow, signal, query or update by a string outside the messages files', () => {
    expect(files.flatMap(offences)).toEqual([]);
  });

  it('every workflow folder has a messages file, and the scan sees the definitions there', () => {
    const messages = files.filter((f) => /^workflows\/[^/]+\/messages\.ts$/.test(f));
    const workflows = files.filter((f) => /^workflows\/[^/]+\/workflow\.ts$/.test(f));
    expect(messages.map((f) => f.replace('messages', 'workflow')).sort()).toEqual(workflows.sort());
    // The definitions there are by name, as they must be: the check above would see them elsewhere.
    const definedByName = messages.flatMap((file) => {
      const names: string[] = [];
      walk(parse(file), (node) => {
        if (
          ts.isCallExpression(node) &&
          DEFINITIONS.has(calledName(node.expression) ?? '') &&
          isName(node.arguments[0])
        )
          names.push((node.arguments[0] as ts.StringLiteral).text);
      });
      return names;
    });
    expect(definedByName).toEqual(
      expect.arrayContaining(['redeemVoucher', 'consent', 'state', 'progress', 'event']),
    );
  });
});
