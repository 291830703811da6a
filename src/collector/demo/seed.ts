// `collector seed-demo`: fills an empty collector database with the synthetic fleet of fleet.ts,
// written in bulk with the same rollups ingest would have kept (storage/demo-fleet.ts).
import { createHash } from 'node:crypto';
import type { DemoFleetRepository } from '../storage/demo-fleet.js';
import { demoFleet, type DemoFleetOptions } from './fleet.js';

export type SeedDemoResult =
  | { outcome: 'seeded'; installations: number; submissions: number; from: string; to: string }
  | { outcome: 'refused_not_empty' };

/** A stable submission id (UUID-shaped) from the installation and the submission's index. */
function submissionId(installId: string, index: number): string {
  const h = createHash('sha256').update(`${installId}:${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Refuses a database that holds any installation, submission or rollup unless `force` (which replaces them). */
export async function seedDemo(repository: DemoFleetRepository, options: DemoFleetOptions & { force: boolean }): Promise<SeedDemoResult> {
  if (!options.force && !(await repository.isEmpty())) return { outcome: 'refused_not_empty' };
  const fleet = demoFleet(options);
  const written = await repository.replaceWith(
    fleet.map((install) => ({
      ...install,
      submissions: install.submissions.map((s, index) => ({ id: submissionId(install.installId, index), ...s })),
    })),
  );
  const times = fleet.flatMap((i) => [i.submissions[0]!.receivedAt.getTime(), i.submissions[i.submissions.length - 1]!.receivedAt.getTime()]);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    outcome: 'seeded',
    ...written,
    from: times.length ? iso(Math.min(...times)) : iso(options.now.getTime()),
    to: times.length ? iso(Math.max(...times)) : iso(options.now.getTime()),
  };
}
