import { randomUUID } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { type DbOptions, dbOptionsFromUrl } from '@lambda-infra/shared/db';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';

/** The server the tests run against, as a pg client config for its `test` database. */
export function postgresServer(): { host: string; port: number; user: string; database: string } {
  const { host, port = 5432, user, database } = dbOptionsFromUrl(inject('postgresUrl'));
  return { host, port, user, database };
}

/** Runs statements as the server's admin, in its `test` database. */
export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client(postgresServer());
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * A database of the test file's own, created before its tests and dropped after them (with whatever
 * connections are still open to it). `options` are `createDb` options for it.
 */
export function useTestDatabase(): {
  readonly name: string;
  readonly options: DbOptions;
  /** The LAMBDA_INFRA_DB_* bindings a function reads to reach it. */
  readonly bindings: Record<string, string>;
} {
  const name = `lambda_infra_test_${process.pid}_${randomUUID().slice(0, 8)}`;
  const server = postgresServer();
  beforeAll(async () => {
    await adminQuery(`create database ${name}`);
  });
  afterAll(async () => {
    await adminQuery(`drop database if exists ${name} with (force)`);
  });
  return {
    name,
    options: { host: server.host, port: server.port, user: server.user, database: name },
    bindings: {
      LAMBDA_INFRA_DB_HOST: server.host,
      LAMBDA_INFRA_DB_PORT: String(server.port),
      LAMBDA_INFRA_DB_NAME: name,
      LAMBDA_INFRA_DB_USER: server.user,
    },
  };
}

export interface PasswordFront {
  readonly port: number;
  /** The password of each connection, in the order they arrived. */
  readonly passwords: string[];
  /**
   * Cuts every open connection without telling the client, as a NAT or proxy does to a connection left idle
   * while a Lambda container is frozen: the client learns of it (a reset) only when it next sends.
   */
  sever(): void;
  close(): Promise<void>;
}

export interface PasswordFrontOptions {
  /** Which passwords are let through; the rest are refused with SQLSTATE 28P01. Default: all. */
  accept?: (password: string) => boolean;
  /** TLS required, with this key and certificate, as RDS Proxy requires it for IAM authentication. */
  tls?: { keyPem: string; certPem: string };
}

const SSL_REQUEST = 80877103;

function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0C${code}\0M${message}\0\0`);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(4 + fields.length, 1);
  return Buffer.concat([header, fields]);
}

/**
 * A front for the test server that asks every new connection for a cleartext password, as RDS Proxy does for
 * an IAM token, records it, refuses those `accept` rejects, and passes the rest through to the server.
 */
export async function startPasswordFront(options: PasswordFrontOptions = {}): Promise<PasswordFront> {
  const accept = options.accept ?? (() => true);
  const server = postgresServer();
  const passwords: string[] = [];
  const sockets = new Set<Socket>();
  const piped = new Map<Duplex, { raw: Socket; upstream: Socket }>();

  function serve(conn: Duplex, raw: Socket, secured: boolean): void {
    let buffer = Buffer.alloc(0);
    let startup: Buffer | undefined;
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!startup) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        const length = buffer.readInt32BE(0);
        const message = buffer.subarray(0, length);
        buffer = buffer.subarray(length);
        if (length === 8 && message.readInt32BE(4) === SSL_REQUEST) {
          if (!options.tls) {
            conn.write('N');
            return;
          }
          conn.off('data', onData);
          conn.write('S');
          const secure = new TLSSocket(raw, {
            isServer: true,
            key: options.tls.keyPem,
            cert: options.tls.certPem,
          });
          secure.on('error', () => raw.destroy());
          serve(secure, raw, true);
          return;
        }
        if (options.tls && !secured) {
          conn.end(errorResponse('28000', 'TLS is required'));
          return;
        }
        startup = message;
        conn.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3])); // AuthenticationCleartextPassword
      }
      if (buffer.length < 5 || buffer.length < 1 + buffer.readInt32BE(1)) return;
      const length = buffer.readInt32BE(1);
      const password = buffer.subarray(5, length).toString('utf8');
      const rest = buffer.subarray(1 + length);
      conn.off('data', onData);
      passwords.push(password);
      if (!accept(password)) {
        conn.end(errorResponse('28P01', 'password authentication failed'));
        return;
      }
      const upstream = createConnection({ host: server.host, port: server.port });
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        raw.destroy();
      });
      upstream.on('error', () => raw.destroy());
      raw.on('close', () => {
        upstream.destroy();
        piped.delete(conn);
      });
      upstream.write(startup);
      if (rest.length) upstream.write(rest);
      conn.pipe(upstream);
      upstream.pipe(conn);
      piped.set(conn, { raw, upstream });
    };
    conn.on('data', onData);
  }

  const front = createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    serve(raw, raw, false);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return {
    port: (front.address() as { port: number }).port,
    passwords,
    sever() {
      for (const [conn, { raw, upstream }] of piped) {
        conn.unpipe(upstream);
        upstream.unpipe(conn);
        conn.once('data', () => {
          raw.resetAndDestroy();
          upstream.destroy();
        });
        conn.resume(); // unpiping paused it, and a new 'data' listener does not undo an explicit pause
      }
      piped.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        front.close(() => resolve());
      }),
  };
}
