/** Every project's global setup: the tests run on the Node of the Lambda runtime, not the shell's. */
export default function checkNode(): void {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    throw new Error(
      `The tests run on Node 24 (the Lambda runtime is nodejs24.x), but this is Node ${process.versions.node}. ` +
        'Run them with `npm test`, which uses the Node 24 that `npm ci` installs into node_modules/.bin.',
    );
  }
}
