// Writes docs/openapi.json, the plugin API's OpenAPI 3.1 description for the default prefixes
// (test/plugin/openapi.test.ts checks it is current).
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/plugin/openapi.js';
import { DEFAULT_MOUNT_PATHS } from '../src/plugin/options.js';

writeFileSync(new URL('../docs/openapi.json', import.meta.url), `${JSON.stringify(openApiDocument(DEFAULT_MOUNT_PATHS), null, 2)}\n`);
console.log('docs/openapi.json written');
