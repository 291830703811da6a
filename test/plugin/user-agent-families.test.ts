// The user-agent parser is ua-parser-js 1.x (MIT) instead of 2.x (AGPL-3.0). On a corpus of real
// User-Agent strings it must report the same browser family, OS family and device class as 2.x
// did (the expected values in the fixture were produced by 2.0.10), so exported series keep their names.
import { readFileSync } from 'node:fs';
import test from 'ava';
import { UserAgentCache } from '../../src/plugin/telemetry/user-agent.js';

interface Case {
  ua: string;
  browser: string;
  os: string;
  device: string;
}

const corpus = JSON.parse(readFileSync(new URL('../fixtures/user-agents.json', import.meta.url), 'utf8')) as Case[];

test('browser, OS and device class of 30 real User-Agent strings are what ua-parser-js 2.x reported', (t) => {
  t.true(corpus.length >= 30);
  const cache = new UserAgentCache();
  for (const c of corpus) {
    t.deepEqual({ ...cache.summarize(c.ua) }, { browser: c.browser, os: c.os, device: c.device }, c.ua);
  }
});

test('missing and over-long User-Agent strings are summarised without throwing', (t) => {
  const cache = new UserAgentCache();
  t.deepEqual({ ...cache.summarize(undefined) }, { browser: 'unknown', os: 'unknown', device: 'unknown' });
  t.notThrows(() => cache.summarize('x'.repeat(100_000)));
});
