// Child process for test/plugin/jobs.test.ts (contrast): plain node-schedule with a daily job and nothing
// else. Its timers are not unref'd, so this process never exits on its own — the reason
// src/jobs/scheduler.ts arms jobs on its own unref'd timers.
import schedule from 'node-schedule';

const rule = new schedule.RecurrenceRule();
rule.hour = 3;
rule.minute = 17;
rule.second = 0;
const job = schedule.scheduleJob('heartbeat', rule, () => {});
process.stdout.write(`scheduled ${job !== null}\n`);
