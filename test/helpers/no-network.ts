// nock for proving that no request is made. The OpenTelemetry HTTP transport takes `request` from
// `import('http')`, whose ESM named exports do not see nock's patch of the CommonJS module until
// syncBuiltinESMExports() runs — without it those requests would slip past nock.
import { syncBuiltinESMExports } from 'node:module';
import nock from 'nock';

/** Disallows every connection except to loopback test servers (the host under test, receivers). */
export function disallowNetwork(): void {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith('127.0.0.1:'));
  syncBuiltinESMExports();
}

export function restoreNetwork(): void {
  nock.cleanAll();
  nock.enableNetConnect();
}

export { nock };
