// Child process for test/plugin/jobs.test.ts: creates a JobScheduler with a daily job and then does nothing
// else. A host process like this must be able to exit on its own: no job keeps it alive.
import { JobScheduler, dailyAt } from '../../src/core/scheduler.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const scheduler = new JobScheduler(logger);
// One minute ahead of now, so the job is armed with a short, real timer.
const soon = new Date(Date.now() + 60_000);
scheduler.schedule('daily-report', dailyAt(soon.getHours(), soon.getMinutes()), async () => {});
scheduler.schedule('heartbeat', dailyAt(3, 17), async () => {});
const jobs = scheduler.list();
process.stdout.write(`scheduled ${jobs.length} ${jobs.every((j) => j.nextRunAt !== null)}\n`);
