// ava's configuration (moved here from package.json so the concurrency can follow the machine).
import { availableParallelism } from 'node:os';

export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  // Test files mostly wait (PostgreSQL, HTTP, child processes, timers, Chromium), so one file per
  // core (ava's default) leaves the cores idle: run at least 4 files at a time, and never fewer
  // than one per core. Every file is isolated (ports are 0, a database and a temp dir per test),
  // so more at a time only changes the speed. docs/testing.md has the measurements.
  concurrency: Math.max(4, availableParallelism()),
  timeout: '2m',
};
