import { defineConfig } from '@lambda-infra/shared/config';
import { z } from 'zod';

/** `/config/{env}/greeting/greeting`: what the service says. */
export const greeting = defineConfig({
  component: 'greeting',
  schema: z.object({ text: z.string().min(1).max(100) }),
  defaults: { text: 'hello' },
});
