/**
 * The API's routes, one list for the handler and for the CDK app, which routes each of them (IAM-signed) on
 * the HTTP API: a path the handler does not serve is never open, and a route the handler adds is deployed.
 */
export const eventsApiRoutes = {
  publish: { method: 'POST', path: '/events' },
  publishBatch: { method: 'POST', path: '/events/batch' },
  stats: { method: 'GET', path: '/events/stats' },
  read: { method: 'GET', path: '/events/{id}' },
  health: { method: 'GET', path: '/health' },
} as const;
