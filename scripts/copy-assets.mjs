// Puts the non-TypeScript parts of src/ (templates, static assets) beside the compiled output, so
// dist/src resolves them exactly as src/ does under tsx.
import { chmodSync, cpSync, existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
cpSync(new URL('src/plugin/templates', root), new URL('dist/src/plugin/templates', root), { recursive: true, filter: (source) => !/\.[cm]?ts$/.test(source) });
const cli = new URL('dist/src/cli.js', root);
if (existsSync(cli)) chmodSync(cli, 0o755);
