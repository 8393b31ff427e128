export type RouteMatch<R> =
  | { found: R; params: Record<string, string> }
  | { found?: undefined; allowed: string[] }
  | undefined;

interface Compiled<R> {
  route: R;
  method: string;
  segments: string[];
  /** Static segments first, as API Gateway picks `/events/stats` over `/events/{id}`. */
  rank: number;
}

const PARAM = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** Splits `/a/b/` into ['a', 'b']; the root is []. */
function segmentsOf(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/**
 * Routes by method and path, with `{name}` segments as API Gateway writes them: the most specific route wins,
 * a path known under another method answers 405 with the methods it has. A route table is built once per
 * container; matching is a scan of a few routes, so it costs nothing next to the invocation.
 */
export class RouteTable<R extends { method: string; pattern: string }> {
  readonly #compiled: Compiled<R>[] = [];

  constructor(routes: readonly R[]) {
    for (const route of routes) {
      if (!route.pattern.startsWith('/')) {
        throw new Error(`route "${route.method} ${route.pattern}": the path must start with /`);
      }
      const segments = segmentsOf(route.pattern);
      const method = route.method.toUpperCase();
      const same = this.#compiled.find(
        (c) =>
          c.method === method &&
          c.segments.length === segments.length &&
          c.segments.every((s, i) => (PARAM.test(s) ? PARAM.test(segments[i]!) : s === segments[i])),
      );
      if (same) {
        throw new Error(`route "${method} ${route.pattern}" is already served by "${same.route.pattern}"`);
      }
      const rank = segments.filter((s) => !PARAM.test(s)).length;
      this.#compiled.push({ route, method, segments, rank });
    }
    this.#compiled.sort((a, b) => b.rank - a.rank);
  }

  get routes(): R[] {
    return this.#compiled.map((c) => c.route);
  }

  /** The route for this request with its path parameters, the methods the path has, or undefined. */
  match(method: string, path: string): RouteMatch<R> {
    const wanted = method.toUpperCase();
    const parts = segmentsOf(path);
    const allowed = new Set<string>();
    for (const c of this.#compiled) {
      if (c.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const name = PARAM.exec(c.segments[i]!)?.[1];
        if (name === undefined) ok = c.segments[i] === parts[i];
        else {
          // A parameter carries what API Gateway decoded; a segment that is not valid percent-encoding stays as sent.
          try {
            params[name] = decodeURIComponent(parts[i]!);
          } catch {
            params[name] = parts[i]!;
          }
        }
      }
      if (!ok) continue;
      if (c.method === wanted || c.method === 'ANY') return { found: c.route, params };
      allowed.add(c.method);
    }
    return allowed.size > 0 ? { allowed: [...allowed].sort() } : undefined;
  }
}
