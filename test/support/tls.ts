import { spawn } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificate {
  /** The folder that holds the files; the caller removes it. */
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
  /** The certificate's PEM: it is its own CA. */
  readonly caPem: string;
  readonly keyPem: string;
}

/** A self-signed certificate for 127.0.0.1, made by openssl in a new temporary folder. */
export async function selfSignedCertificate(prefix = 'lambda-infra-tls-'): Promise<Certificate> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await new Promise<void>((done, fail) => {
    const openssl = spawn(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    openssl.once('exit', (code) => (code === 0 ? done() : fail(new Error(`openssl exited ${code}`))));
  });
  return { dir, cert, key, caPem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8') };
}
