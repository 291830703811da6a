// Every ```ts sample in README.md and docs/*.md compiles against the source: each one is written to
// its own module in a temporary folder (inside the repo, so node_modules resolves), the package's
// names map to src/, and the repo's own tsc type-checks them. A sample that is a fragment (a route
// body, an options object) uses the names declared in AMBIENT below, as a reader would have them.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { removeDir } from './helpers/tmp.js';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');

/** What a fragment may use without declaring it: the host's objects around the sample. */
const AMBIENT = `import type { TelemetryHandle } from 'koa-consent-telemetry';
import type { ParameterizedContext } from 'koa';
import type Router from '@koa/router';
import type { Knex } from 'knex';

declare global {
  /** A request's context inside a host route. */
  const ctx: ParameterizedContext;
  /** The host's @koa/router. */
  const router: Router;
  /** The host's own data in a route. */
  const projects: unknown[];
  /** The handle a host got from telemetryPlugin(). */
  const telemetry: TelemetryHandle;
  const telemetryPlugin: typeof import('koa-consent-telemetry').telemetryPlugin;
  /** The host's nunjucks environment. */
  const env: import('nunjucks').Environment;
  /** The collector's database: a knex instance or config. */
  const knexInstanceOrConfig: Knex | Knex.Config;
}
export {};
`;

export interface Sample {
  file: string;
  line: number;
  code: string;
}

/** The ```ts / ```typescript blocks of a Markdown text, with the (1-based) line of each one's first code line. */
export function tsBlocks(file: string, markdown: string): Sample[] {
  const samples: Sample[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    samples.push({ file, line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return samples;
}

async function documents(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).map((name) => join('docs', name));
  return ['README.md', ...docs.sort()];
}

test('the TypeScript samples of README.md and docs/ type-check against the source', async (t) => {
  const samples: Sample[] = [];
  for (const doc of await documents()) samples.push(...tsBlocks(doc, await readFile(join(ROOT, doc), 'utf8')));
  t.true(samples.length >= 5, `found only ${samples.length} samples`);

  await mkdir(join(ROOT, '.tmp'), { recursive: true });
  const dir = await mkdtemp(join(ROOT, '.tmp', 'docs-samples-'));
  t.teardown(() => removeDir(dir));
  const names = new Map<string, Sample>();
  for (const sample of samples) {
    const name = `${sample.file.replace(/[^a-z0-9]+/gi, '_')}_line${sample.line}.ts`;
    names.set(name, sample);
    // `export {}` makes each sample a module: its own declarations shadow the ambient ones.
    await writeFile(join(dir, name), `${sample.code}\nexport {};\n`);
  }
  await writeFile(join(dir, 'ambient.d.ts'), AMBIENT);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  const src = relative(dir, join(ROOT, 'src'));
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        // The samples import the package by name, as a host does; here that name is the source.
        paths: {
          'koa-consent-telemetry': [`${src}/index.ts`],
          'koa-consent-telemetry/collector': [`${src}/collector/index.ts`],
        },
      },
      include: ['*.ts'],
    }),
  );

  const result = await promisify(execFile)(TSC, ['-p', join(dir, 'tsconfig.json'), '--pretty', 'false'], { cwd: dir }).then(
    () => ({ ok: true, output: '' }),
    (err: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  );
  // Point each error at the document and line the reader sees.
  const readable = result.output.replace(/^(\S+?\.ts)\((\d+),(\d+)\)/gm, (whole, path: string, line: string) => {
    const sample = names.get(path.split(/[\\/]/).pop()!);
    return sample ? `${sample.file}:${sample.line + Number(line) - 1}` : whole;
  });
  t.true(result.ok, `samples that do not compile:\n${readable}`);
});

test('the extractor finds ```ts blocks and their lines, and skips other languages', (t) => {
  const md = ['# x', '```ts', 'const a = 1;', '```', '```js', 'nope()', '```', '```typescript', 'let b = 2;', '```'].join('\n');
  t.deepEqual(
    tsBlocks('x.md', md).map((s) => [s.line, s.code]),
    [
      [3, 'const a = 1;'],
      [9, 'let b = 2;'],
    ],
  );
});

test('every template partial the docs name exists, and the support head partial includes the plugin\'s head partial', async (t) => {
  const templates = join(ROOT, 'src', 'plugin', 'templates');
  const named = new Set<string>();
  for (const doc of await documents()) for (const match of (await readFile(join(ROOT, doc), 'utf8')).matchAll(/telemetry\/[a-z_/]+\.njk/g)) named.add(match[0]);
  t.true(named.has('telemetry/head.njk') && named.has('telemetry/support/head.njk'));
  for (const partial of named) await t.notThrowsAsync(readFile(join(templates, partial)), `${partial} is named in the docs but does not exist`);
  t.regex(await readFile(join(templates, 'telemetry', 'support', 'head.njk'), 'utf8'), /\{%\s*include\s+"telemetry\/head\.njk"\s*%\}/);
});
