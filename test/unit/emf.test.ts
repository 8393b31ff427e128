// biome-ignore-all lint/suspicious/noExplicitAny: EMF documents are untyped JSON.
// The library's own EMF writer: each document valid JSON that CloudWatch takes (at most 100 metrics and 100 values
// each), nothing that is not a finite number, nothing at all when metrics are off.
import { describe, expect, it } from 'vitest';
import { type EmfSettings, InvocationMetrics } from '../../shared/src/observability/emf.ts';

function writer(overrides: Partial<EmfSettings> = {}) {
  const lines: string[] = [];
  const metrics = new InvocationMetrics({
    namespace: 'ns',
    service: 'svc',
    disabled: false,
    write: (line) => lines.push(line),
    ...overrides,
  });
  const documents = () => lines.map((l) => JSON.parse(l) as Record<string, any>);
  return { metrics, lines, documents };
}

describe('InvocationMetrics', () => {
  it('writes an invocation as one document: directive, service dimension, one value or a list', () => {
    const { metrics, documents } = writer();
    metrics.add('EventsHandled', 'Count', 1);
    metrics.add('DbQueryDuration', 'Milliseconds', 1.5);
    metrics.add('DbQueryDuration', 'Milliseconds', 2);
    metrics.flush();
    metrics.flush();

    const [doc, ...rest] = documents();
    expect(rest).toEqual([]);
    expect(doc).toEqual({
      _aws: {
        Timestamp: expect.any(Number),
        CloudWatchMetrics: [
          {
            Namespace: 'ns',
            Dimensions: [['service']],
            Metrics: [
              { Name: 'EventsHandled', Unit: 'Count' },
              { Name: 'DbQueryDuration', Unit: 'Milliseconds' },
            ],
          },
        ],
      },
      service: 'svc',
      EventsHandled: 1,
      DbQueryDuration: [1.5, 2],
    });
    expect(Math.abs(doc!._aws.Timestamp - Date.now())).toBeLessThan(5_000);
  });

  it('reuses a directive only for the same names and units, in order', () => {
    const { metrics, documents } = writer();
    for (const [name, unit] of [
      ['A', 'Count'],
      ['A', 'Milliseconds'],
      ['B', 'Count'],
      ['A', 'Count'],
    ] as const) {
      metrics.add(name, unit, 1);
      metrics.flush();
    }

    expect(documents().map((d) => d._aws.CloudWatchMetrics[0].Metrics)).toEqual([
      [{ Name: 'A', Unit: 'Count' }],
      [{ Name: 'A', Unit: 'Milliseconds' }],
      [{ Name: 'B', Unit: 'Count' }],
      [{ Name: 'A', Unit: 'Count' }],
    ]);
  });

  it('starts a new document at 100 values of a metric and at 100 metrics, losing none', () => {
    const { metrics, documents } = writer();
    for (let i = 0; i < 250; i++) metrics.add('Many', 'Count', i);
    for (let i = 0; i < 150; i++) metrics.add(`M${i}`, 'Count', i);
    metrics.flush();

    const docs = documents();
    const values = docs.flatMap((d) => [d.Many ?? []].flat());
    const names = docs.flatMap((d) =>
      d._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name),
    );
    for (const d of docs) {
      expect(d._aws.CloudWatchMetrics[0].Metrics.length).toBeLessThanOrEqual(100);
      for (const m of d._aws.CloudWatchMetrics[0].Metrics)
        expect([d[m.Name]].flat().length).toBeLessThanOrEqual(100);
    }
    expect(values).toEqual(Array.from({ length: 250 }, (_, i) => i));
    expect(names.filter((n: string) => /^M\d+$/.test(n))).toHaveLength(150);
  });

  it('leaves out what is not a finite number, and keeps a name that needs escaping valid JSON', () => {
    const { metrics, documents } = writer();
    metrics.add('Bad', 'Count', Number.NaN);
    metrics.add('Bad', 'Count', Number.POSITIVE_INFINITY);
    metrics.add('Quote"And\\Slash', 'Count', 3);
    metrics.add('Tiny', 'Count', 1e-7);
    metrics.add('Huge', 'Count', 1e21);
    metrics.flush();

    const [doc] = documents();
    expect(doc).toMatchObject({ 'Quote"And\\Slash': 3, Tiny: 1e-7, Huge: 1e21 });
    expect(doc).not.toHaveProperty('Bad');
  });

  it('writes a metric with dimensions of its own at once, with its metadata, the service dimension first', () => {
    const { metrics, documents } = writer();
    metrics.single(
      'EventErrors',
      'Count',
      1,
      { errorType: 'throttled', queue: 'q' },
      { correlationId: 'c-1' },
    );

    expect(documents()).toEqual([
      {
        _aws: {
          Timestamp: expect.any(Number),
          CloudWatchMetrics: [
            {
              Namespace: 'ns',
              Dimensions: [['service', 'errorType', 'queue']],
              Metrics: [{ Name: 'EventErrors', Unit: 'Count' }],
            },
          ],
        },
        service: 'svc',
        errorType: 'throttled',
        queue: 'q',
        correlationId: 'c-1',
        EventErrors: 1,
      },
    ]);
  });

  it('writes nothing when metrics are off', () => {
    const { metrics, lines } = writer({ disabled: true });
    metrics.add('A', 'Count', 1);
    metrics.single('B', 'Count', 1, { x: 'y' });
    metrics.flush();

    expect(lines).toEqual([]);
  });
});
