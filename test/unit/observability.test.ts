import {
  correlationAttributes,
  correlationIdFromEvent,
  eventMetrics,
  getCorrelationId,
  invocationMetrics,
  metricCatalog,
  setCorrelationId,
} from '@lambda-infra/shared/observability';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureConsole, type Emitted } from '../support/console.ts';
import { httpEvent } from '../support/events.ts';

const sqsEvent = (records: { messageId: string; correlationId?: string }[]) => ({
  Records: records.map((r) => ({
    messageId: r.messageId,
    body: '{}',
    eventSource: 'aws:sqs',
    messageAttributes: r.correlationId
      ? {
          correlationId: {
            stringValue: r.correlationId,
            dataType: 'String',
            stringListValues: [],
            binaryListValues: [],
          },
        }
      : {},
  })),
});

describe('correlation id', () => {
  afterEach(() => setCorrelationId(undefined));

  it('comes from the x-correlation-id header in any case, else the API Gateway request id', () => {
    const lower = httpEvent({ headers: { 'x-correlation-id': 'from-header' } });
    const mixed = httpEvent({ headers: { 'X-Correlation-ID': 'from-mixed-case' } });
    const none = httpEvent();

    expect(correlationIdFromEvent(lower)).toBe('from-header');
    expect(correlationIdFromEvent(mixed)).toBe('from-mixed-case');
    expect(correlationIdFromEvent(none)).toBe(none.requestContext.requestId);
  });

  it('comes from the correlationId attribute of an SQS record, else its message id', () => {
    expect(correlationIdFromEvent(sqsEvent([{ messageId: 'm-1', correlationId: 'upstream-7' }]))).toBe(
      'upstream-7',
    );
    expect(correlationIdFromEvent(sqsEvent([{ messageId: 'm-2' }]))).toBe('m-2');
    expect(correlationIdFromEvent(sqsEvent([]))).toBeUndefined();
    expect(correlationIdFromEvent(null)).toBeUndefined();
  });

  it('once set, rides on every message this container publishes as an SQS attribute', () => {
    expect(correlationAttributes()).toEqual({});

    setCorrelationId('corr-42');

    expect(getCorrelationId()).toBe('corr-42');
    expect(correlationAttributes()).toEqual({
      correlationId: { DataType: 'String', StringValue: 'corr-42' },
    });
  });
});

describe('the metric catalog', () => {
  let emitted: Emitted;
  beforeEach(() => {
    emitted = captureConsole();
  });
  afterEach(() => emitted.restore());

  it('records each event metric under its catalog name and unit', () => {
    eventMetrics.published(3);
    eventMetrics.handled();
    eventMetrics.handlingDuration(12.5);
    eventMetrics.retried();
    eventMetrics.deadLettered();
    eventMetrics.reprocessed();
    eventMetrics.stored(2);
    invocationMetrics.flush();

    const written = Object.fromEntries(emitted.metrics().map((m) => [m.name, m.value]));
    expect(written).toEqual({
      EventsPublished: 3,
      EventsHandled: 1,
      EventHandlingDuration: 12.5,
      EventsRetried: 1,
      EventsDeadLettered: 1,
      EventsReprocessed: 1,
      EventsStored: 2,
    });
    expect(metricCatalog.handlingDuration.unit).toBe('Milliseconds');
  });

  it('writes a metric with dimensions at once, on its own line, with them', () => {
    eventMetrics.errors('throttled', 1, { queue: 'orders' });

    expect(emitted.metrics()).toEqual([
      {
        name: 'EventErrors',
        value: 1,
        dimensions: expect.objectContaining({ errorType: 'throttled', queue: 'orders' }),
      },
    ]);
  });
});
