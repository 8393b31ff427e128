import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { Database } from './Database.ts';
import type { EventQueue } from './EventQueue.ts';
import type { ServiceFunction } from './ServiceFunction.ts';
import type { EnvironmentSettings } from './settings.ts';

export interface MonitoringProps {
  readonly env: string;
  readonly queues: Record<string, EventQueue>;
  readonly functions: Record<string, ServiceFunction>;
  readonly database: Database;
  readonly cacheName: string;
  /** The HTTP API in front of the functions: its requests by status and its latency, as API Gateway counts them. */
  readonly api?: IHttpApi;
  /** The circuits the functions keep, by the name they give them (the BreakerState metric's `breaker`). */
  readonly breakers: { database: string; cache: string };
  readonly alarms: EnvironmentSettings['alarms'];
  readonly removalPolicy: RemovalPolicy;
}

const NAMESPACE = 'lambda-infra';
const FIVE_MINUTES = Duration.minutes(5);

/**
 * One dashboard and the alarms of the stack, to one encrypted SNS topic: any dead letter, an old message in a
 * source queue, a function's error rate and p99 duration, and the circuit in front of the database opening
 * (BreakerState is written on each change, so the alarm shows the opening, not how long it stays open).
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const key = new Key(this, 'TopicKey', {
      description: 'encrypts the alarm topic; CloudWatch may use it to publish',
      enableKeyRotation: true,
      removalPolicy: props.removalPolicy,
    });
    // Alarms publish through CloudWatch, which needs the topic's key.
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'Alarms', {
      masterKey: key,
      enforceSSL: true,
      displayName: `lambda-infra ${props.env} alarms`,
    });
    const action = new SnsAction(this.topic);
    const alarm = (id: string, metric: IMetric, threshold: number, description: string) => {
      const created = new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      this.alarms.push(created);
      return created;
    };

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `lambda-infra-${props.env}` });
    this.dashboard.addWidgets(
      new TextWidget({ markdown: `# lambda-infra ${props.env}`, width: 24, height: 1 }),
    );

    for (const [name, q] of Object.entries(props.queues)) {
      const depth = q.queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) });
      const age = q.queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      });
      const dead = q.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      });
      alarm(`${name}DeadLetters`, dead, 1, `a message reached the dead-letter queue of ${name}`);
      alarm(
        `${name}MessageAge`,
        age,
        props.alarms.maxMessageAge.toSeconds(),
        `the oldest message of ${name} waited ${props.alarms.maxMessageAge.toHumanString()} or more`,
      );
      this.dashboard.addWidgets(
        new GraphWidget({ title: `${name}: depth`, left: [depth], width: 8 }),
        new GraphWidget({ title: `${name}: age of oldest message (s)`, left: [age], width: 8 }),
        new GraphWidget({ title: `${name}: dead letters`, left: [dead], width: 8 }),
      );
    }

    for (const [name, f] of Object.entries(props.functions)) {
      const fn = f.function;
      const errors = fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' });
      const invocations = fn.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' });
      const errorRate = new MathExpression({
        expression: '100 * errors / MAX([invocations, 1])',
        usingMetrics: { errors, invocations },
        period: FIVE_MINUTES,
        label: `${name} error rate (%)`,
      });
      const p99 = fn.metricDuration({ period: FIVE_MINUTES, statistic: 'p99' });
      const throttles = fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' });
      const timeoutMs = (fn.timeout ?? Duration.seconds(3)).toMilliseconds();
      alarm(
        `${name}ErrorRate`,
        errorRate,
        props.alarms.maxErrorRatePercent,
        `${name} failed ${props.alarms.maxErrorRatePercent}% of its invocations or more`,
      );
      alarm(
        `${name}P99Duration`,
        p99,
        Math.round(timeoutMs * props.alarms.maxP99DurationShare),
        `${name}'s p99 duration reached ${props.alarms.maxP99DurationShare * 100}% of its timeout`,
      );
      this.dashboard.addWidgets(
        new GraphWidget({
          title: `${name}: errors and throttles`,
          left: [errors, throttles],
          right: [errorRate],
          width: 8,
        }),
        new GraphWidget({ title: `${name}: duration p99 (ms)`, left: [p99], width: 8 }),
        new GraphWidget({
          title: `${name}: circuits (0 closed, 1 half-open, 2 open, 3 isolated)`,
          left: [props.breakers.database, props.breakers.cache].map((breaker) =>
            libraryMetric('BreakerState', name, { breaker }, 'Maximum'),
          ),
          width: 8,
        }),
      );
      alarm(
        `${name}DbCircuitOpen`,
        libraryMetric('BreakerState', name, { breaker: props.breakers.database }, 'Maximum'),
        2,
        `${name}'s circuit in front of the database is open: the database is failing`,
      );
    }

    if (props.api) {
      const api = props.api;
      const sum = { period: Duration.minutes(1), statistic: 'Sum' };
      this.dashboard.addWidgets(
        new GraphWidget({
          title: 'api: requests by status',
          left: [
            api.metricCount({ ...sum, label: 'all' }),
            api.metricClientError({ ...sum, label: '4xx' }),
            api.metricServerError({ ...sum, label: '5xx' }),
          ],
          width: 12,
        }),
        new GraphWidget({
          title: 'api: latency (ms), at the gateway and in the function',
          left: (['p50', 'p99'] as const).flatMap((statistic) => [
            api.metricLatency({ period: Duration.minutes(1), statistic, label: `latency ${statistic}` }),
            api.metricIntegrationLatency({
              period: Duration.minutes(1),
              statistic,
              label: `integration ${statistic}`,
            }),
          ]),
          width: 12,
        }),
      );
    }

    // Cache and database health, from the library's metrics and the services' own.
    const services = Object.keys(props.functions);
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'cache: hits, misses and errors',
        left: services.flatMap((s) =>
          ['CacheHits', 'CacheMisses', 'CacheErrors'].map((m) => libraryMetric(m, s)),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: 'cache: ElastiCache processing units and latency',
        left: [cacheMetric(props.cacheName, 'ElastiCacheProcessingUnits', 'Sum')],
        right: [cacheMetric(props.cacheName, 'SuccessfulReadRequestLatency', 'p99')],
        width: 8,
      }),
      new GraphWidget({
        title: 'db: query p99 (ms) and errors',
        left: services.map((s) => libraryMetric('DbQueryDuration', s, {}, 'p99')),
        right: services.map((s) => libraryMetric('DbErrors', s)),
        width: 8,
      }),
      new GraphWidget({
        title: 'db: Aurora capacity (ACU) and CPU',
        left: [props.database.cluster.metric('ServerlessDatabaseCapacity', { statistic: 'Average' })],
        right: [props.database.cluster.metricCPUUtilization()],
        width: 12,
      }),
      new GraphWidget({
        title: 'db: proxy client connections',
        left: [
          new Metric({
            namespace: 'AWS/RDS',
            metricName: 'ClientConnections',
            dimensionsMap: { ProxyName: props.database.proxy.dbProxyName },
            statistic: 'Sum',
          }),
        ],
        width: 12,
      }),
    );
  }
}

/** A metric the library emits through Powertools: namespace lambda-infra, dimension service. */
function libraryMetric(
  name: string,
  service: string,
  dimensions: Record<string, string> = {},
  statistic = 'Sum',
): Metric {
  return new Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { service, ...dimensions },
    statistic,
    period: FIVE_MINUTES,
    label: `${service} ${name}${Object.values(dimensions).length ? ` ${Object.values(dimensions).join(' ')}` : ''}`,
  });
}

function cacheMetric(cacheName: string, name: string, statistic: string): Metric {
  return new Metric({
    namespace: 'AWS/ElastiCache',
    metricName: name,
    dimensionsMap: { clusterId: cacheName },
    statistic,
    period: FIVE_MINUTES,
  });
}
