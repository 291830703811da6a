// A lean HTTP/1.1 load generator for the request benches: keep-alive connections held open across
// rounds, each with `depth` requests in flight (1: what browsers and proxies do), and exactly
// `amount` GET requests per run. Responses are parsed only as far as counting needs (status line,
// Content-Length), so the generator costs a few µs per request. No run pays for new connections,
// and short runs on open connections let the bench alternate its modes every ~0.1 s, faster than
// this VM's speed drifts. (It keeps a Node server on the other core ~70 % busy, not saturated.)
import net from 'node:net';
import { once } from 'node:events';

export interface LoadResult {
  served: number;
  seconds: number;
  failed: number;
}

// A browser's request, as a host's JSON route would see it (the user agent is what opted in summarizes).
const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** The user agent of browser `n` of `agents`: with more than one, each a build of its own, so no two connections' headers are equal. */
const browser = (n: number, agents: number) => (agents <= 1 ? BROWSER : BROWSER.replace('131.0.0.0', `131.0.${n}.0`));
const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

class Connection {
  #pending: Buffer = Buffer.alloc(0);

  constructor(
    readonly socket: net.Socket,
    readonly request: Buffer,
    private readonly onResponse: (connection: Connection, ok: boolean) => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
  }

  #read(chunk: Buffer): void {
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (;;) {
      const end = data.indexOf(HEADER_END);
      if (end === -1) break;
      const head = data.toString('latin1', 0, end);
      const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
      const total = end + HEADER_END.length + length;
      if (data.length < total) break;
      const status = Number(head.slice(9, 12));
      data = data.subarray(total);
      this.onResponse(this, status >= 200 && status < 300);
    }
    this.#pending = data.length === 0 ? Buffer.alloc(0) : Buffer.from(data);
  }
}

export class KeepAliveLoad {
  readonly #connections: Connection[] = [];
  #remaining = 0;
  #answered = 0;
  #failed = 0;
  #target = 0;
  #done: (() => void) | null = null;
  #fail: ((error: Error) => void) | null = null;

  private constructor(private readonly depth: number) {}

  /**
   * `agents` browsers (1 by default) share the connections in turn: with as many as there are
   * connections, consecutive requests at the server almost never come from the same browser.
   */
  static async open(port: number, path: string, connections: number, depth = 1, agents = 1): Promise<KeepAliveLoad> {
    const load = new KeepAliveLoad(depth);
    for (let i = 0; i < connections; i++) {
      const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUser-Agent: ${browser(i % agents, agents)}\r\nAccept: application/json\r\n\r\n`, 'latin1');
      const socket = net.connect(port, '127.0.0.1');
      await once(socket, 'connect');
      socket.on('error', () => undefined); // 'close' follows, and fails the run
      socket.on('close', () => load.#fail?.(new Error(`a connection to port ${port} closed during the run`)));
      load.#connections.push(new Connection(socket, request, (connection, ok) => load.#onResponse(connection, ok)));
    }
    return load;
  }

  #send(connection: Connection): void {
    this.#remaining--;
    connection.socket.write(connection.request);
  }

  #onResponse(connection: Connection, ok: boolean): void {
    this.#answered++;
    if (!ok) this.#failed++;
    if (this.#remaining > 0) this.#send(connection);
    else if (this.#answered === this.#target) this.#done?.();
  }

  /** Sends exactly `amount` requests over the open connections and resolves when all are answered. */
  async run(amount: number): Promise<LoadResult> {
    this.#remaining = amount;
    this.#answered = 0;
    this.#failed = 0;
    this.#target = amount;
    const finished = new Promise<void>((resolve, reject) => {
      this.#done = resolve;
      this.#fail = reject;
    });
    const started = process.hrtime.bigint();
    for (let d = 0; d < this.depth; d++) for (const connection of this.#connections) if (this.#remaining > 0) this.#send(connection);
    await finished;
    this.#done = null;
    this.#fail = null;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { served: this.#answered, seconds, failed: this.#failed };
  }

  close(): void {
    this.#fail = null;
    for (const { socket } of this.#connections) socket.destroy();
  }
}
