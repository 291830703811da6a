// The 64 KiB body limit (docs/collector.md): larger bodies are 413 whether announced by Content-Length or
// streamed chunked, without buffering them; a body of exactly 64 KiB is still read and verified.
import http from 'node:http';
import { payloadFor, register, startCollector, submit } from '../helpers/collector.js';
import { testEachDatabase } from '../helpers/databases.js';
import { MAX_SUBMISSION_BYTES, PATHS, SIGNED, signedHeaders } from '../../src/core/protocol.js';
import { checkCollectorAnswers } from '../helpers/openapi.js';

function rawRequest(url: string, path: string, headers: Record<string, string>, chunks: Buffer[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${path}`, { method: 'POST', headers }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (d: string) => (body += d));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.on('error', reject);
    for (const chunk of chunks) request.write(chunk);
    request.end();
  });
}

testEachDatabase('Content-Length over 64 KiB is 413 payload_too_large', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const body = JSON.stringify({ ...payloadFor(install.installId), pad: 'x'.repeat(MAX_SUBMISSION_BYTES) });
  const response = await submit(c.url, c.clock, install, payloadFor(install.installId), { body });
  t.is(response.status, 413);
  t.is((await response.json()).error.code, 'payload_too_large');
  t.is((await db.knex('collector_submissions').select('id')).length, 0);
  // The collector still answers normally afterwards.
  t.is((await submit(c.url, c.clock, install, payloadFor(install.installId))).status, 202);
});

testEachDatabase('a chunked body that grows past 64 KiB is 413 too', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const chunk = Buffer.alloc(16 * 1024, 0x20);
  const headers = { 'content-type': 'application/json', 'transfer-encoding': 'chunked', ...signedHeaders(SIGNED.submit, install.installId, install.secret, 'x', c.clock.seconds()) };
  const answer = await rawRequest(c.url, PATHS.submit, headers, Array(6).fill(chunk));
  t.is(answer.status, 413);
  t.is(JSON.parse(answer.body).error.code, 'payload_too_large');
});

testEachDatabase('a body of exactly 64 KiB is read, verified and accepted; one byte more is 413', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const install = await register(c.url);
  const json = JSON.stringify(payloadFor(install.installId));
  const exact = json + ' '.repeat(MAX_SUBMISSION_BYTES - Buffer.byteLength(json));
  t.is(Buffer.byteLength(exact), MAX_SUBMISSION_BYTES);
  const over = await submit(c.url, c.clock, install, payloadFor(install.installId), { body: `${exact} ` });
  t.is(over.status, 413);
  const accepted = await submit(c.url, c.clock, install, payloadFor(install.installId), { body: exact });
  t.is(accepted.status, 202);
});

testEachDatabase('register has the same limit', async (t, db) => {
  const c = await startCollector(t, db);
  checkCollectorAnswers(t, c.url);
  const response = await fetch(`${c.url}${PATHS.register}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(MAX_SUBMISSION_BYTES + 1) });
  t.is(response.status, 413);
});
