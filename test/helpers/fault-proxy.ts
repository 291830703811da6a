// A small HTTP front for fault tests: it sits before a REAL receiver (the OTLP test receiver or the
// real collector of test/helpers/collector.ts) and, per request, either forwards it or answers with
// a scripted fault, written at the socket level where a fault needs it:
//
//   'pass'                 forward, answer with the target's answer
//   'refuse'               (not per request: see `refuse()` / `accept()`, which stop and restart
//                          listening on the SAME port, so the client sees ECONNREFUSED)
//   'hang'                 read the request, never answer (until close())
//   { status, retryAfter } answer this status (JSON error body, optional Retry-After), not forwarded
//   'cut-headers'          forward, then write half of the status line + headers and destroy the socket
//   'cut-body'             forward, then write the target's status + headers + half its body, destroy
//   { cut: 'headers' | 'body' | 'chunked', status }
//                          the same cuts, but of an answer with this status, NOT forwarded
//   'chunked-truncated'    forward, then answer with the target's status, Transfer-Encoding: chunked,
//                          the first half of the body as one chunk, and end the socket without the
//                          terminating 0-chunk
//   { delayMs }            forward, then hold the target's answer this long before sending it
//
// Faults apply to requests whose path matches `match` (default: every request); the others pass.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';

export type FaultAction =
  | 'pass'
  | 'hang'
  | 'cut-headers'
  | 'cut-body'
  | 'chunked-truncated'
  | { status: number; retryAfter?: string }
  | { cut: 'headers' | 'body' | 'chunked'; status: number }
  | { delayMs: number };

export interface ProxiedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  action: string;
  /** The target's status, when the request was forwarded. */
  targetStatus?: number;
  at: number;
}

export interface FaultProxy {
  url: string;
  port: number;
  requests: ProxiedRequest[];
  /** Queue actions for the next matching requests (one per request, in order); then `fallback`. */
  script(actions: FaultAction[]): void;
  /** What matching requests get once the script is used up (default 'pass'). */
  setFallback(action: FaultAction): void;
  /** Stop listening (connections refused from now on); open sockets are destroyed. */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  accept(): Promise<void>;
  /** Number of requests currently held open by 'hang' or a delay. */
  readonly held: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'expect']);

function describeAction(action: FaultAction): string {
  return typeof action === 'string' ? action : JSON.stringify(action);
}

export async function startFaultProxy(target: string, options: { match?: (path: string) => boolean } = {}): Promise<FaultProxy> {
  const targetUrl = new URL(target);
  const match = options.match ?? (() => true);
  const requests: ProxiedRequest[] = [];
  const queue: FaultAction[] = [];
  let fallback: FaultAction = 'pass';
  const sockets = new Set<Socket>();
  const held = new Set<Socket>();
  let port = 0;
  let server: Server;

  const forward = async (method: string, path: string, headers: IncomingHttpHeaders, body: Buffer) => {
    const outHeaders: Record<string, string> = {};
    for (const [key, value] of Object.entries(headers)) {
      if (value === undefined || HOP_BY_HOP.has(key)) continue;
      outHeaders[key] = Array.isArray(value) ? value.join(', ') : value;
    }
    const response = await fetch(new URL(path, targetUrl.origin), {
      method,
      headers: outHeaders,
      body: method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(body),
    });
    const responseBody = Buffer.from(await response.arrayBuffer());
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, key) => {
      if (!HOP_BY_HOP.has(key) && key !== 'content-encoding') responseHeaders[key] = value;
    });
    return { status: response.status, headers: responseHeaders, body: responseBody };
  };

  const headerBlock = (status: number, headers: Record<string, string>): string =>
    `HTTP/1.1 ${status} X\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;

  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const path = req.url ?? '/';
        const action: FaultAction = match(path.split('?')[0]!) ? (queue.shift() ?? fallback) : 'pass';
        const record: ProxiedRequest = { method: req.method ?? 'GET', path, headers: req.headers, body, action: describeAction(action), at: Date.now() };
        requests.push(record);
        const socket = req.socket;
        if (action === 'hang') {
          held.add(socket);
          socket.once('close', () => held.delete(socket));
          return;
        }
        if (typeof action === 'object' && 'status' in action && !('cut' in action)) {
          const text = JSON.stringify({ error: { code: 'injected', message: `injected ${action.status}` } });
          res.writeHead(action.status, { 'content-type': 'application/json', ...(action.retryAfter ? { 'retry-after': action.retryAfter } : {}) });
          res.end(text);
          return;
        }
        if (typeof action === 'object' && 'cut' in action) {
          // Not forwarded: the answer is a fault of its own, cut in the middle.
          const text = Buffer.from(JSON.stringify({ error: { code: 'injected', message: `injected ${action.status}, cut short`, padding: 'x'.repeat(200) } }));
          if (action.cut === 'headers') {
            const block = headerBlock(action.status, { 'content-type': 'application/json', 'content-length': String(text.length) });
            socket.write(block.slice(0, block.length >> 1));
          } else if (action.cut === 'body') {
            socket.write(headerBlock(action.status, { 'content-type': 'application/json', 'content-length': String(text.length) }));
            socket.write(text.subarray(0, text.length >> 1));
          } else {
            socket.write(headerBlock(action.status, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }));
            const half = text.subarray(0, text.length >> 1);
            socket.write(`${half.length.toString(16)}\r\n`);
            socket.write(half);
            socket.write('\r\n');
          }
          setTimeout(() => (action.cut === 'chunked' ? socket.end() : socket.destroy()), 20);
          return;
        }
        let answer: Awaited<ReturnType<typeof forward>>;
        try {
          answer = await forward(record.method, path, req.headers, body);
        } catch (err) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'bad_gateway', message: String(err) } }));
          return;
        }
        record.targetStatus = answer.status;
        if (action === 'pass' || (typeof action === 'object' && 'delayMs' in action)) {
          if (typeof action === 'object') {
            held.add(socket);
            // Ends early when the connection goes (client killed, or close()); never keeps the process alive.
            await new Promise<void>((done) => {
              const timer = setTimeout(done, action.delayMs);
              timer.unref();
              socket.once('close', () => {
                clearTimeout(timer);
                done();
              });
            });
            held.delete(socket);
            if (socket.destroyed) return;
          }
          res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
          res.end(answer.body);
          return;
        }
        const block = headerBlock(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
        if (action === 'cut-headers') {
          socket.write(block.slice(0, block.length >> 1));
          setTimeout(() => socket.destroy(), 20);
        } else if (action === 'cut-body') {
          socket.write(block);
          socket.write(answer.body.subarray(0, answer.body.length >> 1));
          setTimeout(() => socket.destroy(), 20);
        } else if (action === 'chunked-truncated') {
          const { 'content-length': _drop, ...rest } = answer.headers;
          socket.write(headerBlock(answer.status, { ...rest, 'transfer-encoding': 'chunked' }));
          const half = answer.body.subarray(0, Math.max(1, answer.body.length >> 1));
          socket.write(`${half.length.toString(16)}\r\n`);
          socket.write(half);
          socket.write('\r\n');
          setTimeout(() => socket.end(), 20);
        }
      })();
    });
  };

  const listen = async () => {
    server = createServer(handler);
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  const stopListening = async () => {
    for (const socket of sockets) socket.destroy();
    if (!server.listening) return;
    await new Promise<void>((done) => server.close(() => done()));
  };

  await listen();
  let closed = false;
  return {
    get url() {
      return `http://127.0.0.1:${port}${targetUrl.pathname.replace(/\/+$/, '')}`;
    },
    get port() {
      return port;
    },
    requests,
    script(actions) {
      queue.push(...actions);
    },
    setFallback(action) {
      fallback = action;
    },
    refuse: stopListening,
    async accept() {
      if (!server.listening) await listen();
    },
    get held() {
      return held.size;
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
    },
  };
}
