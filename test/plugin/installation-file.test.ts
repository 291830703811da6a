// installation.json: identity created once and stable across restarts, mode 0600, atomic writes that
// never drop a key (unknown keys, concurrent writers), corrupt files set aside, unwritable dataDir.
import { chmod, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { INSTALLATION_FILE_NAME, InstallationFile } from '../../src/plugin/installation/installation-file.js';
import { tempDirFor } from '../helpers/tmp.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HEX_64 = /^[0-9a-f]{64}$/;

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

test('first load creates installation.json with a v4 install_id, 64-hex salt, consent off and first_seen_at', async (t) => {
  const dir = await tempDirFor(t);
  const fixedNow = new Date('2025-03-04T05:06:07.000Z');
  const file = new InstallationFile(dir, () => fixedNow);
  t.false(file.loaded);
  t.throws(() => file.current, { message: /not been loaded/ });

  const data = await file.load();
  t.true(file.loaded);
  t.is(file.path, join(dir, INSTALLATION_FILE_NAME));
  t.regex(data.install_id, UUID_V4);
  t.regex(data.salt, HEX_64);
  t.false(data.consent.analytics);
  t.false(data.consent.usageStats);
  t.is(data.first_seen_at, fixedNow.toISOString());
  t.is(data.first_seen_sent_at, null);

  const onDisk = await readJson(file.path);
  t.deepEqual(onDisk, JSON.parse(JSON.stringify(data)));
  t.deepEqual(file.current, data);
});

test('identity is stable across a restart (a second InstallationFile on the same dir)', async (t) => {
  const dir = await tempDirFor(t);
  const first = await new InstallationFile(dir, () => new Date('2025-01-01T00:00:00Z')).load();
  const second = await new InstallationFile(dir, () => new Date('2026-06-06T00:00:00Z')).load();
  t.is(second.install_id, first.install_id);
  t.is(second.salt, first.salt);
  t.is(second.first_seen_at, first.first_seen_at, 'first_seen_at keeps the original date');
  t.deepEqual(second.consent, first.consent);
});

test('two installs get different ids and salts', async (t) => {
  const a = await new InstallationFile(await tempDirFor(t)).load();
  const b = await new InstallationFile(await tempDirFor(t)).load();
  t.not(a.install_id, b.install_id);
  t.not(a.salt, b.salt);
});

test('the file is written with mode 0600, also after an update', async (t) => {
  const dir = await tempDirFor(t);
  const file = new InstallationFile(dir);
  await file.load();
  t.is((await stat(file.path)).mode & 0o777, 0o600);
  await chmod(file.path, 0o644); // someone loosened it by hand
  await file.update(() => ({ last_seen_at: new Date().toISOString() }));
  t.is((await stat(file.path)).mode & 0o777, 0o600);
});

test('the data dir is created when missing', async (t) => {
  const dir = await tempDirFor(t);
  const nested = join(dir, 'a', 'b', 'data');
  const data = await new InstallationFile(nested).load();
  t.regex(data.install_id, UUID_V4);
  t.regex(await readFile(join(nested, INSTALLATION_FILE_NAME), 'utf8'), /install_id/);
});

test('an unknown key written by hand survives update()', async (t) => {
  const dir = await tempDirFor(t);
  const file = new InstallationFile(dir);
  await file.load();
  const raw = await readJson(file.path);
  raw.host_note = { written_by: 'cli', n: 3 };
  raw.future_version_field = [1, 2, 3];
  await writeFile(file.path, JSON.stringify(raw));

  const updated = await file.update(() => ({ last_seen_at: '2025-05-05T00:00:00.000Z' }));
  t.deepEqual(updated.host_note, { written_by: 'cli', n: 3 });
  const onDisk = await readJson(file.path);
  t.deepEqual(onDisk.host_note, { written_by: 'cli', n: 3 });
  t.deepEqual(onDisk.future_version_field, [1, 2, 3]);
  t.is(onDisk.last_seen_at, '2025-05-05T00:00:00.000Z');
  t.is(onDisk.install_id, raw.install_id);
});

test('a partial file (hand-edited) is completed, keeping what is valid', async (t) => {
  const dir = await tempDirFor(t);
  const id = '1b4e28ba-2fa1-41d2-883f-0016d3cca427';
  await writeFile(join(dir, INSTALLATION_FILE_NAME), JSON.stringify({ install_id: id, consent: { analytics: true, version: 1 }, extra: 'x' }));
  const data = await new InstallationFile(dir).load();
  t.is(data.install_id, id);
  t.regex(data.salt, HEX_64);
  t.true(data.consent.analytics);
  t.false(data.consent.usageStats);
  t.is(data.extra, 'x');
  const onDisk = await readJson(join(dir, INSTALLATION_FILE_NAME));
  t.regex(String(onDisk.salt), HEX_64);
  t.is(onDisk.salt, data.salt, 'the generated salt is persisted, not regenerated on every start');
});

test('update() from one instance: many concurrent calls, nothing dropped', async (t) => {
  const dir = await tempDirFor(t);
  const file = new InstallationFile(dir);
  await file.load();
  await Promise.all(Array.from({ length: 20 }, (_, i) => file.update(() => ({ [`k${i}`]: i }))));
  const onDisk = await readJson(file.path);
  for (let i = 0; i < 20; i++) t.is(onDisk[`k${i}`], i, `k${i} kept`);
});

test('concurrent update() from two InstallationFile instances on one path plus a hand-written key: nothing dropped, no .tmp left', async (t) => {
  const dir = await tempDirFor(t);
  const a = new InstallationFile(dir);
  const b = new InstallationFile(dir);
  const identity = await a.load();
  await b.load();
  const raw = await readJson(a.path);
  raw.by_hand = 'keep me';
  await writeFile(a.path, JSON.stringify(raw));

  const n = 15;
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    writes.push(a.update(() => ({ [`a${i}`]: i })));
    writes.push(b.update(() => ({ [`b${i}`]: i })));
  }
  await Promise.all(writes);

  const onDisk = await readJson(a.path);
  const missing: string[] = [];
  for (let i = 0; i < n; i++) {
    if (onDisk[`a${i}`] !== i) missing.push(`a${i}`);
    if (onDisk[`b${i}`] !== i) missing.push(`b${i}`);
  }
  if (onDisk.by_hand !== 'keep me') missing.push('by_hand');
  t.deepEqual(missing, [], `keys dropped by concurrent writers: ${missing.join(', ')}`);
  t.is(onDisk.install_id, identity.install_id);
  t.is(onDisk.salt, identity.salt);

  const leftovers = (await readdir(dir)).filter((name) => name.endsWith('.tmp'));
  t.deepEqual(leftovers, []);
});

test('no .tmp files are left behind after writes', async (t) => {
  const dir = await tempDirFor(t);
  const file = new InstallationFile(dir);
  await file.load();
  for (let i = 0; i < 5; i++) await file.update(() => ({ last_seen_at: new Date(Date.UTC(2025, 0, i + 1)).toISOString() }));
  t.deepEqual(await readdir(dir), [INSTALLATION_FILE_NAME]);
});

test('a corrupt file is set aside as installation.json.corrupt-* and a new valid one is created', async (t) => {
  const dir = await tempDirFor(t);
  const path = join(dir, INSTALLATION_FILE_NAME);
  await writeFile(path, '{"install_id": "trunc');
  const data = await new InstallationFile(dir).load();
  t.regex(data.install_id, UUID_V4);
  t.regex(data.salt, HEX_64);

  const names = await readdir(dir);
  const corrupt = names.filter((n) => n.startsWith(`${INSTALLATION_FILE_NAME}.corrupt-`));
  t.is(corrupt.length, 1);
  t.is(await readFile(join(dir, corrupt[0]!), 'utf8'), '{"install_id": "trunc', 'the unreadable content is kept for inspection');
  t.is((await readJson(path)).install_id, data.install_id);
});

test('a JSON file that is not an object (array) is treated as corrupt too', async (t) => {
  const dir = await tempDirFor(t);
  await writeFile(join(dir, INSTALLATION_FILE_NAME), '[1,2,3]');
  const data = await new InstallationFile(dir).load();
  t.regex(data.install_id, UUID_V4);
  t.true((await readdir(dir)).some((n) => n.startsWith(`${INSTALLATION_FILE_NAME}.corrupt-`)));
});

test('an unwritable dataDir rejects load() with an error; once fixed, the same instance recovers', async (t) => {
  const root = await tempDirFor(t);
  const dataDir = join(root, 'data');
  const isRoot = process.getuid?.() === 0;
  if (isRoot) {
    // root ignores directory permissions: make the data dir path a FILE so nothing can be created under it.
    await writeFile(dataDir, 'not a directory');
  } else {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir);
    await chmod(dataDir, 0o500);
    t.teardown(() => chmod(dataDir, 0o700));
  }

  const file = new InstallationFile(dataDir);
  const err = await t.throwsAsync(file.load());
  t.truthy(err);
  t.regex((err as NodeJS.ErrnoException).code ?? '', /^(ENOTDIR|EEXIST|EACCES|EPERM)$/);
  t.false(file.loaded);

  // Fix the directory: the writer queue is not poisoned by the failure.
  if (isRoot) await rm(dataDir);
  else await chmod(dataDir, 0o700);
  const data = await file.load();
  t.regex(data.install_id, UUID_V4);
  t.deepEqual((await readdir(dataDir)).filter((n) => n.endsWith('.tmp')), []);
});
