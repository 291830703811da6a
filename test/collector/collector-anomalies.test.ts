// Anomaly rules (docs/collector.md), each with data built through the real ingest path (rollups written by the
// ingest transaction) that should trigger it, and a near miss that should not.
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import { payloadFor, startCollector, type TestCollector } from '../helpers/collector.js';
import { createTestDatabase, testEachDatabase, type DatabaseKind } from '../helpers/databases.js';
import { evaluateAnomalies, type AnomalyInput } from '../../src/collector/analytics/anomalies.js';
import type { SubmissionPayload } from '../../src/core/protocol.js';

const DAY = 86_400_000;

/** Installations that submit through the collector's ingest (transaction + rollups), skipping HTTP. */
class Fleet {
  readonly ids: string[] = [];
  #period = 0;
  constructor(private readonly c: TestCollector) {}

  async grow(n: number): Promise<void> {
    while (this.ids.length < n) {
      const id = randomUUID();
      await this.c.handle.collector.installations.register(id, 'f'.repeat(64), this.c.clock.now());
      this.ids.push(id);
    }
  }

  /** The first `n` installations submit at the collector's current time. */
  async submit(n: number, over: (i: number) => Partial<SubmissionPayload> = () => ({})): Promise<void> {
    await this.grow(n);
    for (let i = 0; i < n; i++) {
      const start = new Date(Date.UTC(2024, 0, 1) + this.#period++ * DAY).toISOString().slice(0, 10);
      const end = new Date(Date.parse(start) + DAY).toISOString().slice(0, 10);
      const payload = payloadFor(this.ids[i]!, { period: { start, end }, ...over(i) });
      const result = await this.c.handle.collector.submissions.withLockedInstallation({ installId: this.ids[i]!, idempotencyKey: null }, async (locked) =>
        locked ? locked.commit(payload, { now: this.c.clock.now(), windowSeconds: 3600, limited: () => true }) : null,
      );
      if (result?.outcome !== 'accepted') throw new Error(`not accepted: ${result?.outcome ?? 'unknown installation'}`);
    }
  }
}

async function anomalies(c: TestCollector): Promise<{ rule: string; severity: string; current: number; baseline: number }[]> {
  return (await c.adminJson('/stats/anomalies')).anomalies;
}
const find = (list: { rule: string; severity: string }[], rule: string) => list.find((a) => a.rule === rule);

/** Two complete weeks: `previous` installations in the week of 2026-03-02, `last` in the week of 03-09; now is 2026-03-17. */
async function twoWeeks(c: TestCollector, previous: number, last: number, errors?: { previous: (i: number) => number; last: (i: number) => number }) {
  const fleet = new Fleet(c);
  c.clock.set('2026-03-04T10:00:00Z');
  await fleet.submit(previous, (i) => ({ error_count: errors?.previous(i) ?? 0 }));
  c.clock.set('2026-03-11T10:00:00Z');
  await fleet.submit(last, (i) => ({ error_count: errors?.last(i) ?? 0 }));
  c.clock.set('2026-03-17T09:00:00Z');
}

testEachDatabase('active installations drop week over week: > 20 % medium, > 50 % high, exactly 20 % nothing', async (t, db) => {
  for (const [last, severity] of [
    [8, null],
    [7, 'medium'],
    [5, 'medium'],
    [4, 'high'],
  ] as const) {
    const c = await startCollector(t, await fresh(t, db.kind));
    await twoWeeks(c, 10, last);
    const found = find(await anomalies(c), 'active_installs_drop');
    if (severity === null) t.is(found, undefined, `10 → ${last}`);
    else t.like(found, { severity, current: last, baseline: 10 }, `10 → ${last}`);
    t.is(find(await anomalies(c), 'active_installs_spike'), undefined);
    await c.close();
  }
});

testEachDatabase('active installations spike week over week: > 50 % info, exactly 50 % nothing', async (t, db) => {
  for (const [last, expected] of [
    [15, false],
    [16, true],
  ] as const) {
    const c = await startCollector(t, await fresh(t, db.kind));
    await twoWeeks(c, 10, last);
    const found = find(await anomalies(c), 'active_installs_spike');
    if (expected) t.like(found, { severity: 'info', current: last, baseline: 10 });
    else t.is(found, undefined);
    await c.close();
  }
});

/** `perDay` submissions on each of the 30 days before yesterday, `yesterday` on 2026-03-16; now 2026-03-17. */
async function volume(c: TestCollector, perDay: number, yesterday: number) {
  const fleet = new Fleet(c);
  const first = Date.parse('2026-02-14T12:00:00Z');
  for (let d = 0; d < 30; d++) {
    c.clock.set(new Date(first + d * DAY));
    await fleet.submit(perDay);
  }
  c.clock.set('2026-03-16T12:00:00Z');
  await fleet.submit(yesterday);
  c.clock.set('2026-03-17T09:00:00Z');
}

testEachDatabase('submission volume spike: more than 3 × the 30-day daily mean; exactly 3 × is no spike', async (t, db) => {
  let c = await startCollector(t, await fresh(t, db.kind));
  await volume(c, 2, 7);
  t.like(find(await anomalies(c), 'submission_volume_spike'), { severity: 'medium', current: 7, baseline: 2 });
  await c.close();
  c = await startCollector(t, await fresh(t, db.kind));
  await volume(c, 2, 6);
  t.is(find(await anomalies(c), 'submission_volume_spike'), undefined);
});

testEachDatabase('submission volume drop: below 0.2 × a mean above 5; a mean of exactly 5 never counts as a drop', async (t, db) => {
  let c = await startCollector(t, await fresh(t, db.kind));
  await volume(c, 6, 1);
  t.like(find(await anomalies(c), 'submission_volume_drop'), { severity: 'high', current: 1, baseline: 6 });
  await c.close();
  c = await startCollector(t, await fresh(t, db.kind));
  await volume(c, 5, 0);
  t.is(find(await anomalies(c), 'submission_volume_drop'), undefined, 'mean 5 is not above 5');
  await c.close();
  c = await startCollector(t, await fresh(t, db.kind));
  await volume(c, 10, 2);
  t.is(find(await anomalies(c), 'submission_volume_drop'), undefined, '2 is exactly 0.2 × 10');
});

testEachDatabase('error spike week over week: > 50 % medium, > 100 % high, exactly 50 % nothing', async (t, db) => {
  // 10 installations both weeks; installation 0 carries the error counts.
  for (const [lastErrors, severity] of [
    [15, null],
    [16, 'medium'],
    [20, 'medium'],
    [21, 'high'],
  ] as const) {
    const c = await startCollector(t, await fresh(t, db.kind));
    await twoWeeks(c, 10, 10, { previous: (i) => (i === 0 ? 10 : 0), last: (i) => (i === 0 ? lastErrors : 0) });
    const found = find(await anomalies(c), 'error_spike');
    if (severity === null) t.is(found, undefined, `10 → ${lastErrors}`);
    else t.like(found, { severity, current: lastErrors, baseline: 10 }, `10 → ${lastErrors}`);
    await c.close();
  }
});

testEachDatabase('high error rate: > 30 % of active installations medium, > 50 % high, exactly 30 % nothing', async (t, db) => {
  for (const [withErrors, severity] of [
    [3, null],
    [4, 'medium'],
    [5, 'medium'],
    [6, 'high'],
  ] as const) {
    const c = await startCollector(t, await fresh(t, db.kind));
    await twoWeeks(c, 10, 10, { previous: () => 0, last: (i) => (i < withErrors ? 1 : 0) });
    const found = find(await anomalies(c), 'high_error_rate');
    if (severity === null) t.is(found, undefined, `${withErrors}/10`);
    else t.like(found, { severity, current: withErrors, baseline: 10 }, `${withErrors}/10`);
    await c.close();
  }
});

testEachDatabase('a quiet, steady collector has no anomalies; anomalies answer with period and message', async (t, db) => {
  const c = await startCollector(t, await fresh(t, db.kind));
  await twoWeeks(c, 10, 10);
  const body = await c.adminJson('/stats/anomalies');
  t.deepEqual(body, { generated_at: '2026-03-17T09:00:00.000Z', anomalies: [] });
});

// Each scenario gets its own empty database.
async function fresh(t: ExecutionContext, kind: DatabaseKind) {
  const db = await createTestDatabase(kind);
  t.teardown(() => db.cleanup());
  return db;
}

// ------------------------------------------------------------------ the pure rules at their edges

const quiet = (): AnomalyInput => ({
  lastWeek: { start: '2026-03-09', end: '2026-03-15', activeInstalls: 100, errors: 10, errorInstallations: 10 },
  previousWeek: { start: '2026-03-02', end: '2026-03-08', activeInstalls: 100, errors: 10 },
  day: { date: '2026-03-16', submissions: 10 },
  previousDays: { start: '2026-02-14', end: '2026-03-15', submissions: Array(30).fill(10) },
});

test('evaluateAnomalies: no baseline, no rule (zero previous week, zero errors, zero mean)', (t) => {
  const input = quiet();
  input.previousWeek = { ...input.previousWeek, activeInstalls: 0, errors: 0 };
  input.lastWeek = { ...input.lastWeek, activeInstalls: 0, errors: 50, errorInstallations: 0 };
  input.previousDays.submissions = Array(30).fill(0);
  input.day.submissions = 100;
  t.deepEqual(evaluateAnomalies(input), []);
});

test('evaluateAnomalies: results are ordered high, medium, info and carry the numbers', (t) => {
  const input = quiet();
  input.lastWeek = { ...input.lastWeek, activeInstalls: 40, errors: 30, errorInstallations: 25 };
  const rules = evaluateAnomalies(input).map((a) => [a.rule, a.severity]);
  t.deepEqual(rules, [
    ['active_installs_drop', 'high'],
    ['error_spike', 'high'],
    ['high_error_rate', 'high'],
  ]);
  const drop = evaluateAnomalies(input)[0]!;
  t.like(drop, { current: 40, baseline: 100, change_percent: -60, period: { start: '2026-03-09', end: '2026-03-15' } });
  t.regex(drop.message, /100 to 40/);
});
