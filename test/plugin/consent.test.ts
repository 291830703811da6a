// Consent (the database's telemetry_settings rows are the source of truth, installation.json keeps a
// copy and is the store without a database; onChange tells the host), privacy-notice re-confirmation,
// the DO_NOT_TRACK / TELEMETRY_DISABLED / TELEMETRY_DEBUG switches, and the per-user pseudonym.
import { readFile } from 'node:fs/promises';
import test from 'ava';
import knex from 'knex';
import type { ConsentState, KillSwitchReason, Logger } from '../../src/plugin/types.js';
import { ConsentStore, CONSENT_SETTING_KEYS } from '../../src/plugin/installation/consent.js';
import { InstallationFile } from '../../src/plugin/installation/installation-file.js';
import { SettingsRepository } from '../../src/plugin/installation/settings-repository.js';
import { readKillSwitch } from '../../src/plugin/installation/kill-switch.js';
import { Pseudonymizer } from '../../src/plugin/installation/pseudonym.js';
import { migrateLatest } from '../../src/plugin/db/migration-source.js';
import { testEachDatabase } from '../helpers/databases.js';
import { tempDirFor } from '../helpers/tmp.js';

interface RecordingLogger extends Logger {
  warnings: unknown[][];
}

function recordingLogger(): RecordingLogger {
  const warnings: unknown[][] = [];
  const noop = (): void => {};
  return { debug: noop, info: noop, error: noop, warn: (...args: unknown[]) => void warnings.push(args), warnings };
}

const fixedNow = () => new Date('2025-06-01T12:00:00.000Z');

function storeOn(dir: string, options: { settings?: SettingsRepository | null; noticeVersion?: number; logger?: Logger } = {}) {
  const file = new InstallationFile(dir, fixedNow);
  const store = new ConsentStore(file, options.settings ?? null, options.noticeVersion ?? 1, options.logger ?? recordingLogger(), fixedNow);
  return { file, store };
}

async function consentOnDisk(file: InstallationFile): Promise<ConsentState> {
  return (JSON.parse(await readFile(file.path, 'utf8')) as { consent: ConsentState }).consent;
}

// ------------------------------------------------------------------------------------ consent

test('consent defaults to off (analytics and usage stats)', async (t) => {
  const { store, file } = storeOn(await tempDirFor(t));
  const state = await store.load();
  t.false(state.analytics);
  t.false(state.usageStats);
  t.false(store.isGranted('analytics'));
  t.false(store.isGranted('usageStats'));
  t.false(store.needsReconfirmation);
  const disk = await consentOnDisk(file);
  t.false(disk.analytics);
  t.false(disk.usageStats);
});

testEachDatabase('set({analytics:true}) is stored in telemetry_settings (the truth) and copied to installation.json', async (t, db) => {
  await migrateLatest(db.knex);
  const settings = new SettingsRepository(db.knex);
  const { store, file } = storeOn(await tempDirFor(t), { settings });
  await store.load();

  const state = await store.set({ analytics: true });
  t.true(state.analytics);
  t.false(state.usageStats);
  t.is(state.version, 1);
  t.is(state.updated_at, fixedNow().toISOString());
  t.true(store.isGranted('analytics'));

  const disk = await consentOnDisk(file);
  t.true(disk.analytics);
  t.false(disk.usageStats);
  t.is(disk.version, 1);

  const mirrored = await settings.all();
  t.is(mirrored[CONSENT_SETTING_KEYS.analytics], 'true');
  t.is(mirrored['consent.analytics'], 'true');
  t.is(mirrored['consent.usage_stats'], 'false');
  t.is(mirrored['consent.version'], '1');

  // Withdrawing is mirrored too (the upsert overwrites the existing row).
  await store.set({ analytics: false, usageStats: true });
  const after = await settings.all();
  t.is(after['consent.analytics'], 'false');
  t.is(after['consent.usage_stats'], 'true');
  const rows = await db.knex('telemetry_settings').where('key', 'consent.analytics');
  t.is(rows.length, 1);
});

testEachDatabase('load() imports installation.json\'s choice into a database that has none', async (t, db) => {
  await migrateLatest(db.knex);
  const dir = await tempDirFor(t);
  await storeOn(dir).store.set({ usageStats: true }); // chosen earlier, without a database
  const settings = new SettingsRepository(db.knex);
  await storeOn(dir, { settings }).store.load();
  const mirrored = await settings.all();
  t.is(mirrored['consent.usage_stats'], 'true');
  t.is(mirrored['consent.analytics'], 'false');
});

test('onChange is called once per actual change with the new state, never for a no-op set()', async (t) => {
  const { store } = storeOn(await tempDirFor(t));
  await store.load();
  const calls: ConsentState[] = [];
  store.onChange((c) => void calls.push(c));

  await store.set({ analytics: true });
  t.is(calls.length, 1);
  t.true(calls[0]!.analytics);
  t.false(calls[0]!.usageStats);

  await store.set({ analytics: true }); // same value
  await store.set({}); // nothing
  await store.set({ analytics: 'yes' } as never); // not a boolean: ignored
  t.is(calls.length, 1);

  await store.set({ usageStats: true });
  t.is(calls.length, 2);
  t.deepEqual({ a: calls[1]!.analytics, u: calls[1]!.usageStats }, { a: true, u: true });

  await store.set({ analytics: false, usageStats: false });
  t.is(calls.length, 3);
  t.deepEqual({ a: calls[2]!.analytics, u: calls[2]!.usageStats }, { a: false, u: false });
});

test('onChange: after two quick opposite set() calls, the last state a listener heard is the final state', async (t) => {
  // An admin clicks "allow" and then "deny" (or two admins click at once): a host syncing its own
  // allow_analytics flag from onChange must not be left with the wrong value.
  const { store, file } = storeOn(await tempDirFor(t));
  await store.load();
  const heard: boolean[] = [];
  store.onChange((c) => void heard.push(c.analytics));

  await Promise.all([store.set({ analytics: true }), store.set({ analytics: false })]);
  const final = store.get().analytics;
  t.false((await consentOnDisk(file)).analytics, 'the later call wins on disk');
  t.false(final);
  const lastHeard = heard.length > 0 ? heard[heard.length - 1] : false; // nothing heard = still the initial false
  t.is(lastHeard, final, `listener heard ${JSON.stringify(heard)} but consent is ${final}`);
});

test('onChange: the returned function unsubscribes', async (t) => {
  const { store } = storeOn(await tempDirFor(t));
  await store.load();
  let n = 0;
  const off = store.onChange(() => void n++);
  await store.set({ analytics: true });
  off();
  await store.set({ analytics: false });
  t.is(n, 1);
});

test('a throwing listener does not break set(), other listeners still run, a warning is logged', async (t) => {
  const logger = recordingLogger();
  const { store, file } = storeOn(await tempDirFor(t), { logger });
  await store.load();
  let secondCalled = false;
  store.onChange(() => {
    throw new Error('host sync failed');
  });
  store.onChange(async () => {
    await Promise.reject(new Error('async host sync failed'));
  });
  store.onChange(() => {
    secondCalled = true;
  });

  const state = await store.set({ analytics: true });
  t.true(state.analytics);
  t.true(secondCalled);
  t.true((await consentOnDisk(file)).analytics);
  t.is(logger.warnings.length, 2);
});

test('a second ConsentStore over the same file reads the choice (restart)', async (t) => {
  const dir = await tempDirFor(t);
  await storeOn(dir).store.set({ analytics: true, usageStats: true });
  const { store } = storeOn(dir);
  const state = await store.load();
  t.true(state.analytics);
  t.true(state.usageStats);
  t.true(store.isGranted('analytics'));
});

test('a raised privacy notice version makes stored opt-ins count as not given until re-confirmed', async (t) => {
  const dir = await tempDirFor(t);
  await storeOn(dir, { noticeVersion: 1 }).store.set({ analytics: true, usageStats: true });

  const { store, file } = storeOn(dir, { noticeVersion: 2 });
  const state = await store.load();
  t.false(state.analytics);
  t.false(state.usageStats);
  t.false(store.isGranted('analytics'));
  t.true(store.needsReconfirmation);
  t.true((await consentOnDisk(file)).analytics, 'the old choice stays on disk, it is only not honoured');

  // Re-confirming one category does not silently revive the other old opt-in.
  const partly = await store.set({ analytics: true });
  t.true(partly.analytics);
  t.false(partly.usageStats);
  t.is(partly.version, 2);
  t.false(store.needsReconfirmation);
  t.true(store.isGranted('analytics'));
  const disk = await consentOnDisk(file);
  t.is(disk.version, 2);
  t.true(disk.analytics);
  t.false(disk.usageStats);

  // And after a restart at version 2 the re-confirmed choice holds.
  const restarted = storeOn(dir, { noticeVersion: 2 }).store;
  t.true((await restarted.load()).analytics);
  t.false(restarted.needsReconfirmation);
});

test('a raised notice version with everything off does not ask for re-confirmation', async (t) => {
  const dir = await tempDirFor(t);
  await storeOn(dir, { noticeVersion: 1 }).store.set({ analytics: false });
  const { store } = storeOn(dir, { noticeVersion: 2 });
  await store.load();
  t.false(store.needsReconfirmation);
});

testEachDatabase('a raised notice version: the database keeps the old choice with its version, and it counts as not given', async (t, db) => {
  await migrateLatest(db.knex);
  const dir = await tempDirFor(t);
  const settings = new SettingsRepository(db.knex);
  await storeOn(dir, { settings, noticeVersion: 1 }).store.set({ analytics: true });
  const { store } = storeOn(dir, { settings, noticeVersion: 2 });
  t.false((await store.load()).analytics);
  t.true(store.needsReconfirmation);
  const stored = await settings.all();
  t.is(stored['consent.analytics'], 'true', 'the choice itself is kept (re-confirming needs it)');
  t.is(stored['consent.version'], '1', 'its version says it predates the notice');
});

testEachDatabase('a failing database: set() rejects, an opt-out still applies in this process at once, an opt-in is never granted', async (t, db) => {
  const own = knex(db.config());
  await migrateLatest(own);
  const logger = recordingLogger();
  const { store } = storeOn(await tempDirFor(t), { settings: new SettingsRepository(own), logger });
  await store.load();
  await store.set({ analytics: true, usageStats: true });
  const changes: ConsentState[] = [];
  store.onChange((c) => void changes.push(c));
  await own.destroy();

  await t.throwsAsync(store.set({ analytics: false }));
  t.false(store.isGranted('analytics'), 'this process stops exporting even though the database could not be told');
  t.true(store.isGranted('usageStats'), 'what the patch did not withdraw is untouched');
  t.is(changes.length, 1, 'listeners hear the withdrawal (the analytics layer forgets what waits)');

  await t.throwsAsync(store.set({ analytics: true }));
  t.false(store.isGranted('analytics'), 'a grant that could not be stored is not applied');
  t.is(changes.length, 1);
});

testEachDatabase('load() fails rather than guess when the database cannot be read', async (t, db) => {
  const broken = knex(db.config());
  await migrateLatest(broken);
  await broken.destroy();
  const dir = await tempDirFor(t);
  await storeOn(dir).store.set({ analytics: true }); // an opt-in in installation.json
  const { store } = storeOn(dir, { settings: new SettingsRepository(broken) });
  await t.throwsAsync(store.load());
  t.false(store.isGranted('analytics'));
});

testEachDatabase('the database wins over installation.json: the file is imported once, into a database that has no consent', async (t, db) => {
  await migrateLatest(db.knex);
  const settings = new SettingsRepository(db.knex);
  const first = await tempDirFor(t);
  await storeOn(first).store.set({ analytics: true }); // chosen before there was a database
  t.true((await storeOn(first, { settings }).store.load()).analytics, 'imported');

  const other = await tempDirFor(t); // another host's data folder: its file says nothing was chosen
  const { store, file } = storeOn(other, { settings });
  t.true((await store.load()).analytics, 'the shared database, not this file, decides');
  t.false((await consentOnDisk(file)).analytics, 'loading does not rewrite the file');
  await store.set({ usageStats: true });
  t.like(await consentOnDisk(file), { analytics: true, usageStats: true }, 'a change refreshes the copy');
});

testEachDatabase('reload(): a change made by another store is announced as remote, the maker\'s own as local with its actor', async (t, db) => {
  await migrateLatest(db.knex);
  const settings = new SettingsRepository(db.knex);
  const maker = storeOn(await tempDirFor(t), { settings }).store;
  const other = storeOn(await tempDirFor(t), { settings }).store;
  await maker.load();
  await other.load();
  const heard: string[] = [];
  maker.onChange((c, _p, change) => void heard.push(`maker ${c.analytics} ${change.origin} ${change.actor}`));
  other.onChange((c, _p, change) => void heard.push(`other ${c.analytics} ${change.origin} ${change.actor}`));

  await maker.set({ analytics: true }, 'cli');
  t.false(other.isGranted('analytics'), 'not seen before a reload');
  await other.reload();
  await other.reload(); // nothing new: no second announcement
  t.true(other.isGranted('analytics'));
  t.deepEqual(heard, ['maker true local cli', 'other true remote null']);
});

testEachDatabase('the request path\'s analytics flag is the effective consent at every step, before any listener runs: grant, remote withdrawal, local withdrawal the database refused', async (t, db) => {
  const own = knex(db.config());
  await migrateLatest(own);
  const settings = new SettingsRepository(own);
  const { store } = storeOn(await tempDirFor(t), { settings });
  const other = storeOn(await tempDirFor(t), { settings }).store;
  t.false(store.analyticsGranted, 'off before anything is loaded');
  await store.load();
  await other.load();
  // What a listener sees of the flag at the moment it is told: already the new state.
  const seen: boolean[] = [];
  store.onChange(() => void seen.push(store.analyticsGranted));
  await store.set({ analytics: true });
  t.true(store.analyticsGranted);
  await other.set({ analytics: false });
  await store.reload();
  t.false(store.analyticsGranted, 'a withdrawal made by another process, once reloaded');
  await store.set({ analytics: true });
  await own.destroy();
  await t.throwsAsync(store.set({ analytics: false }));
  t.false(store.analyticsGranted, 'a withdrawal the database could not store still applies here at once');
  t.deepEqual(seen, [true, false, true, false]);
});

// ------------------------------------------------------------------------------------ kill switch

const killCases: { env: Record<string, string | undefined>; disabled: boolean; reason: KillSwitchReason | null }[] = [
  { env: { DO_NOT_TRACK: '1' }, disabled: true, reason: 'DO_NOT_TRACK' },
  { env: { DO_NOT_TRACK: 'true' }, disabled: true, reason: 'DO_NOT_TRACK' },
  { env: { DO_NOT_TRACK: 'TRUE' }, disabled: true, reason: 'DO_NOT_TRACK' },
  { env: { TELEMETRY_DISABLED: '1' }, disabled: true, reason: 'TELEMETRY_DISABLED' },
  { env: { TELEMETRY_DISABLED: 'true' }, disabled: true, reason: 'TELEMETRY_DISABLED' },
  { env: {}, disabled: false, reason: null },
  { env: { DO_NOT_TRACK: '0' }, disabled: false, reason: null },
  { env: { DO_NOT_TRACK: 'false' }, disabled: false, reason: null },
  { env: { TELEMETRY_DISABLED: '0' }, disabled: false, reason: null },
  { env: { TELEMETRY_DISABLED: 'false' }, disabled: false, reason: null },
  { env: { DO_NOT_TRACK: '' }, disabled: false, reason: null },
];

for (const { env, disabled, reason } of killCases) {
  test(`kill switch: ${JSON.stringify(env)} → ${disabled ? `active (${reason})` : 'not active'}`, (t) => {
    const state = readKillSwitch(env);
    t.is(state.disabled, disabled);
    t.is(state.reason, reason);
    t.false(state.debug);
  });
}

test('kill switch: both set → active (either reason named)', (t) => {
  const state = readKillSwitch({ DO_NOT_TRACK: '1', TELEMETRY_DISABLED: '1' });
  t.true(state.disabled);
  t.true(state.reason === 'DO_NOT_TRACK' || state.reason === 'TELEMETRY_DISABLED');
});

test('kill switch: TELEMETRY_DEBUG=1 (or the debug option) turns on debug without disabling', (t) => {
  t.deepEqual(readKillSwitch({ TELEMETRY_DEBUG: '1' }), { disabled: false, reason: null, debug: true });
  t.deepEqual(readKillSwitch({ TELEMETRY_DEBUG: 'true' }), { disabled: false, reason: null, debug: true });
  t.deepEqual(readKillSwitch({ TELEMETRY_DEBUG: '0' }), { disabled: false, reason: null, debug: false });
  t.deepEqual(readKillSwitch({}, true), { disabled: false, reason: null, debug: true });
  const both = readKillSwitch({ TELEMETRY_DEBUG: '1', DO_NOT_TRACK: '1' });
  t.true(both.disabled);
  t.true(both.debug);
});

// ------------------------------------------------------------------------------------ pseudonym

const SALT_A = 'a'.repeat(64);
const SALT_B = '0123456789abcdef'.repeat(4);

test('pseudonym: 16 lowercase hex characters, stable for the same id', (t) => {
  const p = new Pseudonymizer(SALT_A);
  for (const id of ['alice@example.com', 42, 'u-1', '']) {
    const value = p.pseudonym(id);
    t.regex(value, /^[0-9a-f]{16}$/);
    t.is(p.pseudonym(id), value);
    t.is(new Pseudonymizer(SALT_A).pseudonym(id), value, 'same salt and id after a restart → same pseudonym');
  }
});

test('pseudonym: different ids and different salts give different pseudonyms', (t) => {
  const a = new Pseudonymizer(SALT_A);
  const b = new Pseudonymizer(SALT_B);
  t.not(a.pseudonym('alice@example.com'), a.pseudonym('bob@example.com'));
  t.not(a.pseudonym('alice@example.com'), b.pseudonym('alice@example.com'));
  t.not(a.pseudonym(1001), b.pseudonym(1001));
});

test('pseudonym: numeric and string forms of one id are the same user', (t) => {
  const p = new Pseudonymizer(SALT_A);
  t.is(p.pseudonym(1234567), p.pseudonym('1234567'));
});

test('pseudonym: never contains the raw id', (t) => {
  const p = new Pseudonymizer(SALT_B);
  for (const id of ['alice@example.com', 'deadbeefcafe', 987654321, 'user-7f3a']) {
    t.false(p.pseudonym(id).includes(String(id)), `pseudonym of ${id}`);
  }
});

test('pseudonym: stays correct past its internal cache size', (t) => {
  const p = new Pseudonymizer(SALT_A);
  const first = p.pseudonym('user-0');
  for (let i = 1; i < 2_500; i++) p.pseudonym(`user-${i}`);
  t.is(p.pseudonym('user-0'), first);
});
