import { httpApiEvent, matchRoute, resolveValue, toHttpResponse } from '@lambda-infra/shared/local/twin';
import { describe, expect, it } from 'vitest';

const route = (routeKey: string) => {
  const [method, path] = routeKey === '$default' ? ['ANY', '$default'] : routeKey.split(' ');
  return {
    method: method!,
    path: path!,
    routeKey,
    functionId: routeKey,
    authorization: 'NONE',
    payloadFormatVersion: '2.0',
  };
};

describe("the twin's router: API Gateway HTTP API's rules for picking a route", () => {
  const routes = [
    'GET /events/{id}',
    'GET /events/stats',
    'ANY /events/{id}',
    'GET /files/{proxy+}',
    'POST /events',
  ].map(route);

  it('prefers literal segments, then the request method over ANY, whatever the order of the routes', () => {
    expect(matchRoute(routes, 'GET', '/events/stats')?.route.routeKey).toBe('GET /events/stats');
    expect(matchRoute([...routes].reverse(), 'GET', '/events/stats')?.route.routeKey).toBe(
      'GET /events/stats',
    );
    expect(matchRoute(routes, 'GET', '/events/42')).toMatchObject({
      route: { routeKey: 'GET /events/{id}' },
      pathParameters: { id: '42' },
    });
    expect(matchRoute(routes, 'DELETE', '/events/42')?.route.routeKey).toBe('ANY /events/{id}');
  });

  it('decodes parameters, lets a greedy parameter take the rest of the path, and matches nothing else', () => {
    expect(matchRoute(routes, 'GET', '/events/a%20b')?.pathParameters).toEqual({ id: 'a b' });
    expect(matchRoute(routes, 'GET', '/files/a/b/c.txt')?.pathParameters).toEqual({ proxy: 'a/b/c.txt' });
    expect(matchRoute(routes, 'GET', '/files')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/events/1/more')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/events/')).toBeUndefined();
    expect(matchRoute(routes, 'PUT', '/events')).toBeUndefined();
  });

  it('keeps a parameter that is not valid percent-encoding as sent, and reads // as a path, not a host', () => {
    expect(matchRoute(routes, 'GET', '/events/%E0%A4%A')?.pathParameters).toEqual({ id: '%E0%A4%A' });
    expect(httpApiEvent({ method: 'GET', url: '//evil.example/events/1' })).toMatchObject({
      rawPath: '//evil.example/events/1',
      requestContext: { http: { path: '//evil.example/events/1' } },
    });
    expect(matchRoute(routes, 'GET', '//evil.example/events/1')).toBeUndefined();
  });

  it('sends what no route matches to $default when the API has one', () => {
    expect(matchRoute([...routes, route('$default')], 'PUT', '/anything')?.route.routeKey).toBe('$default');
  });
});

describe('resolving template values against the local endpoints', () => {
  const context = {
    region: 'us-east-1',
    accountId: '000000000000',
    stackName: 'lambda-infra-dev',
    refs: { Queue: 'http://127.0.0.1:1/000000000000/q' },
    attributes: {
      Queue: { Arn: 'arn:aws:sqs:us-east-1:000000000000:q' },
      Cache: { 'Endpoint.Port': '6379' },
    },
  };

  it('resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and the pseudo parameters', () => {
    expect(resolveValue({ Ref: 'Queue' }, context)).toBe(context.refs.Queue);
    expect(resolveValue({ 'Fn::GetAtt': ['Queue', 'Arn'] }, context)).toBe(context.attributes.Queue.Arn);
    expect(
      resolveValue({ 'Fn::Join': [':', ['redis', { 'Fn::GetAtt': ['Cache', 'Endpoint.Port'] }]] }, context),
    ).toBe('redis:6379');
    expect(
      resolveValue(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not JavaScript's.
        { 'Fn::Sub': '${AWS::Region}/${Queue.Arn}/${X}' },
        { ...context, refs: { ...context.refs, X: 'x' } },
      ),
    ).toBe(`us-east-1/${context.attributes.Queue.Arn}/x`);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub's own syntax, not JavaScript's.
    expect(resolveValue({ 'Fn::Sub': ['${A}-${AWS::StackName}', { A: 'a' }] }, context)).toBe(
      'a-lambda-infra-dev',
    );
    expect(resolveValue({ 'Fn::Select': [1, ['a', 'b']] }, context)).toBe('b');
    expect(resolveValue(300, context)).toBe('300');
  });

  it('names what it cannot resolve instead of inventing a value', () => {
    expect(() => resolveValue({ Ref: 'Secret' }, context)).toThrow('Ref Secret');
    expect(() => resolveValue({ 'Fn::GetAtt': ['Queue', 'QueueName'] }, context)).toThrow(
      'Fn::GetAtt Queue.QueueName',
    );
    expect(() => resolveValue({ 'Fn::ImportValue': 'x' }, context)).toThrow('Fn::ImportValue');
  });
});

describe('payload format 2.0, both ways', () => {
  it('hands the function lower-case headers, cookies apart, decoded and joined query values, and text bodies as text', () => {
    const event = httpApiEvent({
      method: 'post',
      url: '/events/1?a=1&a=2&b=%20x',
      headers: { 'Content-Type': 'application/json', Cookie: 'a=1; b=2', 'X-Many': ['1', '2'] },
      body: '{"ok":true}',
      routeKey: 'POST /events/{id}',
      pathParameters: { id: '1' },
    });
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /events/{id}',
      rawPath: '/events/1',
      rawQueryString: 'a=1&a=2&b=%20x',
      cookies: ['a=1', 'b=2'],
      headers: { 'content-type': 'application/json', 'x-many': '1,2' },
      queryStringParameters: { a: '1,2', b: ' x' },
      pathParameters: { id: '1' },
      body: '{"ok":true}',
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: '/events/1' }, stage: '$default' },
    });
    expect(event.headers.cookie).toBeUndefined();
  });

  it('base64-encodes a body that is not text', () => {
    const bytes = Buffer.from([0, 255, 1, 2]);
    const event = httpApiEvent({
      method: 'PUT',
      url: '/f',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    expect(event).toMatchObject({ isBase64Encoded: true, body: bytes.toString('base64') });
  });

  it('answers a result as API Gateway does: with its status, as a 200 JSON body without one, 500 on error', () => {
    const ok = { ok: true as const, durationMs: 1, coldStart: false };
    expect(
      toHttpResponse({
        ...ok,
        value: { statusCode: 201, headers: { 'X-A': 'b' }, cookies: ['c=1'], body: 'hi' },
      }),
    ).toEqual({
      status: 201,
      headers: { 'x-a': 'b', 'set-cookie': ['c=1'] },
      body: Buffer.from('hi'),
    });
    expect(
      toHttpResponse({
        ...ok,
        value: { statusCode: 200, body: Buffer.from('bin').toString('base64'), isBase64Encoded: true },
      }).body,
    ).toEqual(Buffer.from('bin'));
    expect(toHttpResponse({ ...ok, value: { hello: 'world' } })).toMatchObject({
      status: 200,
      body: Buffer.from('{"hello":"world"}'),
    });
    const failed = toHttpResponse({
      ok: false,
      error: { errorType: 'Error', errorMessage: 'secret detail' },
      durationMs: 1,
      coldStart: false,
    });
    expect(failed.status).toBe(500);
    expect(failed.body.toString()).toBe('{"message":"Internal Server Error"}');
  });
});
