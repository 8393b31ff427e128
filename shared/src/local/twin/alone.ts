import { join } from 'node:path';
import { type InvokeResult, startFunctionPool } from './containers.ts';
import { readTwinTemplate, resolveValue, UnresolvedReference } from './template.ts';

/**
 * One invocation of one function of a cloud assembly with no twin running, as `sam local invoke` does: its
 * code and layers laid out as Lambda does, its template variables where they need no other resource, and the
 * caller's environment for the rest (AWS_REGION, credentials, AWS_ENDPOINT_URL_*, and any variable of the
 * function's it sets, which wins over the template's).
 */
export async function invokeAlone(
  cloudAssembly: string,
  name: string,
  event: unknown,
  log: (line: string) => void,
): Promise<InvokeResult> {
  const template = readTwinTemplate(cloudAssembly);
  const fn = template.functions.find((f) => f.name === name || f.logicalId === name);
  if (!fn)
    throw new Error(
      `no function ${name} in ${cloudAssembly}; it has ${template.functions.map((f) => f.name).join(', ')}`,
    );
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && (key.startsWith('AWS_') || key === 'PATH' || key === 'HOME' || key === 'TZ'))
      env[key] = value;
  }
  env.AWS_REGION = region;
  const context = {
    region,
    accountId: '000000000000',
    stackName: template.stackName,
    refs: {},
    attributes: {},
  };
  for (const [key, raw] of Object.entries(fn.environment)) {
    const given = process.env[key];
    if (given !== undefined) {
      env[key] = given;
      continue;
    }
    try {
      env[key] = resolveValue(raw, context);
    } catch (error) {
      if (!(error instanceof UnresolvedReference)) throw error;
      log(`${key} left unset: it refers to ${error.message} (set it in the environment, or run the twin)`);
    }
  }
  const pool = startFunctionPool({
    fn,
    env,
    tasksDir: join(process.cwd(), '.lambda-infra', 'tasks', String(process.pid)),
    maxContainers: 1,
    onLine: (line) => log(line.line),
  });
  try {
    return await pool.invoke(event);
  } finally {
    await pool.stop();
  }
}
