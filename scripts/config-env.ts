// Prints the resolved configuration as shell assignments for scripts/bootstrap.sh,
// so the services it starts match what the platform will connect to.
import { loadConfig } from '../lib/config';

const config = loadConfig();
const db = new URL(config.DATABASE_URL);
const redis = new URL(config.REDIS_URL);
const vars = {
  PGHOST: db.hostname,
  PGPORT: db.port || '5432',
  PGUSER: decodeURIComponent(db.username),
  PGPASSWORD: decodeURIComponent(db.password),
  PGDATABASE: db.pathname.slice(1),
  REDIS_HOST: redis.hostname,
  REDIS_PORT: redis.port || '6379',
  SANDBOX_RUNTIME: config.SANDBOX_RUNTIME,
  SANDBOX_IMAGE: config.SANDBOX_IMAGE,
};
const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
for (const [name, value] of Object.entries(vars)) console.log(`${name}=${quote(value)}`);
