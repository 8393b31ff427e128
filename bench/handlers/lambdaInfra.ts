// (c) The same handler on this library.
import { defineConfig } from '@lambda-infra/shared/config';
import { createHttpHandler } from '@lambda-infra/shared/handler';
import { z } from 'zod';

const http = defineConfig({ component: 'http', schema: z.object({ greeting: z.string() }) });

export const handler = createHttpHandler({
  body: z.object({ name: z.string() }),
  config: { http },
  handle: (request, { config }) => ({
    statusCode: 200,
    body: { message: `${config.http.greeting}, ${request.body.name}` },
  }),
});
