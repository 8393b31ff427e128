import { createHttpHandler } from '@lambda-infra/shared/handler';
import { z } from 'zod';
import { greeting } from './config.ts';

// zod and the library come from the shared layer: this bundle carries only this file and config.ts.
export const handler = createHttpHandler({
  body: z.object({ name: z.string().min(1).max(100) }),
  config: { greeting },
  handle: ({ body }, { config }) => ({
    statusCode: 200,
    body: { message: `${config.greeting.text}, ${body.name}` },
  }),
});
