// Whether a request's path lies under one of the plugin's prefixes (the prefix itself or below it).
// Asked on every host request, so it reads the raw request URL: for an origin-form URL ("/a/b?q"),
// what clients send, that gives the answer Koa's ctx.path would (parseurl behind two getters);
// anything else (an absolute-form URL, an empty one) asks ctx.path.
import type { Context } from 'koa';

const SLASH = 0x2f;
const QUESTION_MARK = 0x3f;
const HASH = 0x23;

export type PathPrefixTest = (ctx: Context) => boolean;

export function pathPrefixTest(prefixes: readonly string[]): PathPrefixTest {
  const withSlash = prefixes.map((prefix) => `${prefix}/`);
  // What may follow the first "/" of a URL that is ours: one of the prefixes' second characters. Most
  // host URLs fail this one test, decided from numbers held here (no object to look up). Not with a
  // root prefix "/" (anything may follow it), nor with more than four distinct second characters.
  const seconds = [...new Set(prefixes.filter((prefix) => prefix.length > 1).map((prefix) => prefix.charCodeAt(1)))];
  const quickReject = seconds.length <= 4 && prefixes.every((prefix) => prefix.length > 1);
  const [c0 = -1, c1 = -1, c2 = -1, c3 = -1] = seconds;
  // Koa's ctx.path is null for an empty URL (a host middleware's doing; no client can send one).
  const fromPath = (path: string | null): boolean => {
    if (typeof path !== 'string') return false;
    for (let i = 0; i < prefixes.length; i++) if (path === prefixes[i] || path.startsWith(withSlash[i]!)) return true;
    return false;
  };
  return (ctx) => {
    const url = ctx.req.url;
    if (url === undefined || url.charCodeAt(0) !== SLASH) return fromPath(ctx.path);
    if (quickReject) {
      const second = url.charCodeAt(1); // NaN for "/" alone: equal to none of them
      if (second !== c0 && second !== c1 && second !== c2 && second !== c3) return false;
    }
    for (let i = 0; i < prefixes.length; i++) {
      const prefix = prefixes[i]!;
      if (!url.startsWith(prefix)) continue;
      // The prefix must end the path: the URL ends there, or a "/", the query or a fragment follows.
      const after = url.charCodeAt(prefix.length);
      if (Number.isNaN(after) || after === SLASH || after === QUESTION_MARK || after === HASH) return true;
    }
    return false;
  };
}
