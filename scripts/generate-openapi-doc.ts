// Writes docs/openapi.json (the plugin API, default prefixes) and docs/collector-openapi.json (the
// collector API, default mount path), the OpenAPI 3.1 descriptions the code builds
// (test/plugin/openapi.test.ts and test/collector/collector-openapi.test.ts check they are current).
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/plugin/openapi.js';
import { DEFAULT_MOUNT_PATHS } from '../src/plugin/options.js';
import { collectorOpenApiDocument } from '../src/collector/openapi.js';

const write = (file: string, document: unknown) => {
  writeFileSync(new URL(`../docs/${file}`, import.meta.url), `${JSON.stringify(document, null, 2)}\n`);
  console.log(`docs/${file} written`);
};
write('openapi.json', openApiDocument(DEFAULT_MOUNT_PATHS));
write('collector-openapi.json', collectorOpenApiDocument(''));
