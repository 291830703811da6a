// The import graph points one way (src/core ← src/plugin, src/core ← src/collector) and
// `npm run check:deps` (dependency-cruiser with .dependency-cruiser.cjs) enforces it in `npm test`.
// These tests prove the check covers the real tree and that each rule bites: a copy of the tree
// with one forbidden import per rule must fail with that rule's name.
import { spawn } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { tempDirFor } from './helpers/tmp.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const DEPCRUISE = join(ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
  cycle?: Array<{ name: string }>;
}
interface CruiseReport {
  code: number | null;
  /** what the err output printed */
  printed: string;
  modules: Array<{ source: string; dependencies: Array<{ resolved: string }> }>;
  violations: Violation[];
}

/** The arguments of `npm run check:deps`, optionally with another output type. */
function checkDepsArgs(outputType?: string): string[] {
  const args = PACKAGE.scripts['check:deps']!.split(/\s+/).slice(1);
  if (outputType) args.splice(args.indexOf('--output-type'), 2, '--output-type', outputType);
  return args;
}

function runDepcruise(cwd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEPCRUISE, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The cruise of `npm run check:deps` in `cwd`: its exit code (err output, as npm test runs it)
 * and the graph and violations (the same cruise with JSON output, which always exits 0). */
async function cruise(cwd: string): Promise<CruiseReport> {
  // Two independent cruises of the same tree (no cache): run side by side.
  const [checked, json] = await Promise.all([runDepcruise(cwd, checkDepsArgs()), runDepcruise(cwd, checkDepsArgs('json'))]);
  try {
    const output = JSON.parse(json.stdout) as { modules: CruiseReport['modules']; summary: { violations: Violation[] } };
    return { code: checked.code, printed: checked.stdout + checked.stderr, modules: output.modules, violations: output.summary.violations };
  } catch {
    throw new Error(`depcruise --output-type json exited with ${json.code} without a JSON report:\n${json.stderr}\n${json.stdout.slice(0, 2000)}`);
  }
}

function describe(violations: Violation[]): string {
  return violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).join('\n') || '(none)';
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => `${dir}/${file.split('\\').join('/')}`);
}

test('npm test runs the import-graph check before the tests', (t) => {
  t.regex(PACKAGE.scripts.test ?? '', /^npm run --silent check:deps && /);
  t.regex(PACKAGE.scripts['check:deps'] ?? '', /^depcruise src migrations --config \.dependency-cruiser\.cjs --output-type err$/);
});

test('the real tree passes, and the check saw every TypeScript file and its imports', async (t) => {
  t.timeout(120_000);
  const report = await cruise(ROOT);
  t.deepEqual(report.violations, [], describe(report.violations));
  t.is(report.code, 0, report.printed);
  // A cruiser without a TypeScript parser finds no .ts file and passes an empty graph.
  const cruised = new Set(report.modules.map((m) => m.source));
  const missing = [...tsFilesUnder('src'), ...tsFilesUnder('migrations')].filter((file) => !cruised.has(file));
  t.deepEqual(missing, [], 'every .ts file under src/ and migrations/ is in the graph');
  const entry = report.modules.find((m) => m.source === 'src/index.ts');
  t.true(entry?.dependencies.some((d) => d.resolved === 'src/plugin/plugin.ts'), 'src/index.ts → src/plugin/plugin.ts was resolved');
  // `import type` counts: src/index.ts re-exports types only from src/plugin/types.ts.
  t.true(entry?.dependencies.some((d) => d.resolved === 'src/plugin/types.ts'), 'a type-only re-export is an edge of the graph');
});

// One forbidden import per rule, written into a copy of the real tree, checked with the real config.
const INJECTED: Array<{ file: string; append: string; rule: string; from: string; to: RegExp }> = [
  { file: 'src/core/leak-to-plugin.ts', append: "import '../plugin/types.js';\n", rule: 'core-imports-only-core', from: 'src/core/leak-to-plugin.ts', to: /^src\/plugin\/types\.ts$/ },
  { file: 'src/core/leak-to-collector.ts', append: "export type { CollectorOptions } from '../collector/options.js';\n", rule: 'core-imports-only-core', from: 'src/core/leak-to-collector.ts', to: /^src\/collector\/options\.ts$/ },
  { file: 'src/plugin/leak-to-collector.ts', append: "import type { CollectorOptions } from '../collector/options.js';\nexport type O = CollectorOptions;\n", rule: 'plugin-not-to-collector', from: 'src/plugin/leak-to-collector.ts', to: /^src\/collector\/options\.ts$/ },
  { file: 'src/collector/leak-to-plugin.ts', append: "import { telemetryPlugin } from '../plugin/plugin.js';\nexport const p = telemetryPlugin;\n", rule: 'collector-not-to-plugin', from: 'src/collector/leak-to-plugin.ts', to: /^src\/plugin\/plugin\.ts$/ },
  { file: 'src/plugin/leak-to-entry.ts', append: "import '../index.js';\n", rule: 'products-not-to-entry-points', from: 'src/plugin/leak-to-entry.ts', to: /^src\/index\.ts$/ },
  { file: 'src/collector/leak-to-cli.ts', append: "import '../cli.js';\n", rule: 'products-not-to-entry-points', from: 'src/collector/leak-to-cli.ts', to: /^src\/cli\.ts$/ },
  // The regression this layout fixed: the plugin's entry re-exporting the collector.
  { file: 'src/index.ts', append: "export { collectorPlugin } from './collector/index.js';\n", rule: 'plugin-entry-imports-plugin-and-core', from: 'src/index.ts', to: /^src\/collector\/index\.ts$/ },
  { file: 'src/collector/index.ts', append: "export { telemetryPlugin } from '../plugin/plugin.js';\n", rule: 'collector-entry-imports-collector-and-core', from: 'src/collector/index.ts', to: /^src\/plugin\/plugin\.ts$/ },
  { file: 'src/plugin/leak-prom-client.ts', append: "import 'prom-client';\n", rule: 'collector-dependencies-only-in-collector', from: 'src/plugin/leak-prom-client.ts', to: /node_modules\/prom-client\// },
  { file: 'src/core/leak-nodemailer.ts', append: "import type { Transporter } from 'nodemailer';\nexport type T = Transporter;\n", rule: 'collector-dependencies-only-in-collector', from: 'src/core/leak-nodemailer.ts', to: /node_modules\/(@types\/)?nodemailer\// },
  { file: 'migrations/007_leak.ts', append: "import '../src/core/version.js';\n", rule: 'migrations-import-no-source', from: 'migrations/007_leak.ts', to: /^src\/core\/version\.ts$/ },
  { file: 'src/plugin/cycle-a.ts', append: "import type { B } from './cycle-b.js';\nexport type A = B | 1;\n", rule: 'no-circular', from: 'src/plugin/cycle-a.ts', to: /^src\/plugin\/cycle-b\.ts$/ },
  { file: 'src/plugin/leak-unresolvable.ts', append: "import './no-such-module.js';\n", rule: 'not-to-unresolvable', from: 'src/plugin/leak-unresolvable.ts', to: /^\.\/no-such-module\.js$/ },
  { file: 'src/plugin/leak-dev-dependency.ts', append: "import 'nock';\n", rule: 'not-to-dev-dependency', from: 'src/plugin/leak-dev-dependency.ts', to: /node_modules\/nock\// },
];

test('a copy of the tree with one forbidden import per rule fails, naming each rule and import', async (t) => {
  t.timeout(180_000);
  const copy = await tempDirFor(t, 'kct-import-graph-');
  for (const entry of ['src', 'migrations', 'package.json', '.dependency-cruiser.cjs']) {
    cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');

  const clean = await cruise(copy);
  t.deepEqual(clean.violations, [], `the untouched copy passes:\n${describe(clean.violations)}`);

  for (const injection of INJECTED) await appendFile(join(copy, injection.file), injection.append);
  // The other half of the cycle (a cycle is reported once, from its first module).
  await writeFile(join(copy, 'src/plugin/cycle-b.ts'), "import type { A } from './cycle-a.js';\nexport type B = A | 2;\n");
  // Not every package is a forbidden dependency: an ordinary one from src/plugin still passes.
  await writeFile(join(copy, 'src/plugin/allowed-dependency.ts'), "import 'zod';\nimport '../core/version.js';\n");

  const report = await cruise(copy);
  t.not(report.code, 0, 'check:deps exits non-zero, so `npm test` stops');
  for (const injection of INJECTED) t.true(report.printed.includes(`error ${injection.rule}: ${injection.from} → `), `check:deps prints ${injection.rule} for ${injection.from}`);
  for (const injection of INJECTED) {
    const hit = report.violations.some((v) => v.rule.name === injection.rule && v.from === injection.from && injection.to.test(v.to));
    t.true(hit, `${injection.rule} reports ${injection.from} → ${injection.to}; got:\n${describe(report.violations)}`);
  }
  const allowed = report.violations.filter((v) => v.from === 'src/plugin/allowed-dependency.ts');
  t.deepEqual(allowed, [], 'zod and src/core are allowed from the plugin');
  const untouchedFiles = report.violations.filter((v) => !INJECTED.some((i) => i.from === v.from) && v.from !== 'src/plugin/cycle-b.ts');
  t.deepEqual(untouchedFiles, [], 'only the injected files are reported');
});
