// The import graph points one way: src/core ← src/plugin and src/core ← src/collector. The two
// products never import each other, the core imports neither, and only the entry points sit on
// top. `npm run check:deps` checks it; test/import-graph.test.ts proves the
// rules bite.
//
// TypeScript 7 (the native compiler) has no JavaScript compiler API that dependency-cruiser can
// load, so the sources are parsed with swc (`parser: 'swc'`, @swc/core devDependency). swc keeps
// `import type` and `export type … from`, so type-only arrows count like any other.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'core-imports-only-core',
      comment: 'src/core is shared by both products, so it imports neither of them nor an entry point.',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'plugin-not-to-collector',
      comment: 'The host plugin never imports the collector: a host must not load its code or its dependencies.',
      severity: 'error',
      from: { path: '^src/plugin/' },
      to: { path: '^(src|migrations)/collector/' },
    },
    {
      name: 'collector-not-to-plugin',
      comment: 'The collector never imports the host plugin; what both need lives in src/core.',
      severity: 'error',
      from: { path: '^src/collector/' },
      to: { path: '^src/plugin/' },
    },
    {
      name: 'products-not-to-entry-points',
      comment: 'A product imports its own folder and src/core only: never an entry point such as src/index.ts or src/cli.ts.',
      severity: 'error',
      from: { path: '^src/(plugin|collector)/' },
      to: { path: '^src/', pathNot: ['^src/core/', '^src/$1/', '^src/(plugin|collector)/'] },
    },
    {
      name: 'plugin-entry-imports-plugin-and-core',
      comment: 'koa-consent-telemetry (src/index.ts) exports the plugin only; the collector is koa-consent-telemetry/collector.',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(plugin|core)/' },
    },
    {
      name: 'collector-entry-imports-collector-and-core',
      comment: 'koa-consent-telemetry/collector (src/collector/index.ts) exports the collector only.',
      severity: 'error',
      from: { path: '^src/collector/index\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(collector|core)/' },
    },
    {
      name: 'collector-dependencies-only-in-collector',
      comment:
        'prom-client and nodemailer serve the collector only; importing the plugin must not load them (test/package-install.test.ts runs a host without them).',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/collector/' },
      to: { path: '(^|/)node_modules/(prom-client|nodemailer|@types/nodemailer)/' },
    },
    {
      name: 'migrations-import-no-source',
      comment: 'Migrations are frozen history: they import knex types only, never the code that changes after them.',
      severity: 'error',
      from: { path: '^migrations/' },
      to: { path: '^(src|migrations)/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycle anywhere in src/ (none exists; keep it that way).',
      severity: 'error',
      from: { path: '^(src|migrations)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import the cruiser cannot resolve would slip past every rule above.',
      severity: 'error',
      from: { path: '^(src|migrations)/' },
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-dev-dependency',
      comment: 'Published code cannot import a devDependency: an installed host does not have it (koa is a peer).',
      severity: 'error',
      from: { path: '^(src|migrations)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
    },
    {
      name: 'not-to-undeclared-package',
      comment: 'Every package published code imports is declared in package.json.',
      severity: 'error',
      from: { path: '^(src|migrations)/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // Browser scripts served by the plugin: not part of the module graph.
    exclude: { path: '^src/plugin/templates/assets/' },
    moduleSystems: ['es6', 'cjs'],
  },
};
