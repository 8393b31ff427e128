import { RouteTable } from '@lambda-infra/shared/handler';
import { describe, expect, it } from 'vitest';

const table = new RouteTable([
  { method: 'GET', pattern: '/events/{id}' },
  { method: 'GET', pattern: '/events/stats' },
  { method: 'POST', pattern: '/events' },
  { method: 'DELETE', pattern: '/events/{id}' },
]);

describe('RouteTable', () => {
  it('prefers a static segment over a parameter, as API Gateway does, whatever the order given', () => {
    expect(table.match('GET', '/events/stats')?.found?.pattern).toBe('/events/stats');
    expect(table.match('GET', '/events/abc')).toEqual({ found: table.routes[1], params: { id: 'abc' } });
  });

  it('decodes parameters, and keeps a segment that is not valid percent-encoding as sent', () => {
    expect(table.match('GET', '/events/a%20b')?.found && table.match('GET', '/events/a%20b')).toMatchObject({
      params: { id: 'a b' },
    });
    expect(table.match('GET', '/events/%E0%A4%A')).toMatchObject({ params: { id: '%E0%A4%A' } });
  });

  it('names the methods a known path has, and nothing for an unknown path', () => {
    expect(table.match('PUT', '/events/1')).toEqual({ allowed: ['DELETE', 'GET'] });
    expect(table.match('GET', '/nope')).toBeUndefined();
    expect(table.match('GET', '/events/1/more')).toBeUndefined();
  });

  it('refuses two routes that would serve the same requests', () => {
    expect(
      () =>
        new RouteTable([
          { method: 'GET', pattern: '/a/{x}' },
          { method: 'GET', pattern: '/a/{y}' },
        ]),
    ).toThrow(/already served by "\/a\/\{x\}"/);
    expect(() => new RouteTable([{ method: 'GET', pattern: 'a' }])).toThrow(/must start with \//);
  });
});
