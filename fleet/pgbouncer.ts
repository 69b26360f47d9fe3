import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { freePort } from '../test/services';
import { waitFor } from '../test/waitFor';

const psqlAsPostgres = (database: string, sql: string) =>
  execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-v', 'ON_ERROR_STOP=1', '-qAt', '-d', database, '-c', sql], { stdio: 'pipe' });

/**
 * Debian's PgBouncer in transaction mode in front of a Postgres, as operators run it: every client's transaction
 * may land on another server connection, so nothing a session sets survives. Any role with a password logs in:
 * PgBouncer looks its SCRAM secret up through `auth_query`, as the docs advise, with a function the superuser owns.
 */
export class PgBouncer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    /** The postgres user it runs as (it refuses root), and the role and database its readiness check logs in with. */
    private readonly runAs: { uid: number; gid: number; admin: { user: string; password: string }; database: string },
  ) {}

  /** `admin` (a role with a password, e.g. mission:mission) is PgBouncer's auth_user. Needs root (runs as postgres). */
  static async start(postgres: { host: string; port: number; database: string }, admin: { user: string; password: string }): Promise<PgBouncer> {
    psqlAsPostgres(postgres.database, `
      create schema if not exists pgbouncer;
      create or replace function pgbouncer.user_lookup(name text, out usename name, out passwd text) security definer
        language sql as 'select usename, passwd from pg_catalog.pg_shadow where usename = name';
      revoke all on function pgbouncer.user_lookup(text) from public;
      grant usage on schema pgbouncer to "${admin.user}";
      grant execute on function pgbouncer.user_lookup(text) to "${admin.user}";`);
    const dir = mkdtempSync(join(tmpdir(), 'mc-pgbouncer-'));
    const uid = Number(execFileSync('id', ['-u', 'postgres']));
    const gid = Number(execFileSync('id', ['-g', 'postgres']));
    chownSync(dir, uid, gid);
    const bouncer = new PgBouncer(await freePort(), dir, { uid, gid, admin, database: postgres.database });
    writeFileSync(join(dir, 'users.txt'), `"${admin.user}" "${admin.password}"\n`);
    writeFileSync(join(dir, 'pgbouncer.ini'), [
      '[databases]',
      `* = host=${postgres.host} port=${postgres.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${bouncer.port}`,
      'unix_socket_dir =',
      'pool_mode = transaction',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'users.txt')}`,
      `auth_user = ${admin.user}`,
      `admin_users = ${admin.user}`,
      'auth_query = select usename, passwd from pgbouncer.user_lookup($1)',
      'max_client_conn = 1000',
      'default_pool_size = 20',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'));
    for (const file of ['users.txt', 'pgbouncer.ini']) chownSync(join(dir, file), uid, gid);
    await bouncer.run();
    return bouncer;
  }

  /** SIGKILLed and started again on the same port: every client connection is cut, as in a crash and restart. */
  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.run();
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(): Promise<void> {
    const { uid, gid, admin, database } = this.runAs;
    this.child = spawn('/usr/sbin/pgbouncer', [join(this.dir, 'pgbouncer.ini')], { stdio: 'ignore', uid, gid });
    await waitFor(async () => {
      const client = new Client({ host: '127.0.0.1', port: this.port, user: admin.user, password: admin.password, database });
      return client.connect().then(() => client.end().then(() => true), () => false);
    }, 30_000, 'pgbouncer start');
  }

  private async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    }
  }
}
