import type { Knex } from 'knex';
import * as missionsAndSteps from './001_missions_and_steps';
import * as tenantsBatchesEvents from './002_tenants_batches_events';
import * as missionWorker from './003_mission_worker';
import * as llmCalls from './004_llm_calls';
import * as approvals from './005_approvals';
import * as jobsAndDeadlines from './006_jobs_and_deadlines';
import * as tenantLlmUrls from './007_tenant_llm_urls';
import * as stepClaimsAndWorkers from './008_step_claims_and_workers';
import * as idempotentHeaders from './009_idempotent_headers';
import * as missionsFillfactor from './010_missions_fillfactor';
import * as batchItemsAndUsage from './011_batch_items_and_usage';
import * as webhooks from './012_webhooks';
import * as retention from './013_retention';
import * as keyUse from './014_key_use';
import * as fairWebhookClaims from './015_fair_webhook_claims';
import * as storedBytes from './016_stored_bytes';
import * as savedWorkspaces from './017_saved_workspaces';
import * as taskFiles from './018_task_files';
import * as waitingFor from './019_waiting_for';
import * as scores from './020_scores';
import * as epochs from './021_epochs';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

// Migrations are listed here rather than found on disk, so they load the same way under tsx, jest and node.
const migrations: ReadonlyArray<readonly [string, Migration]> = [
  ['001_missions_and_steps', missionsAndSteps],
  ['002_tenants_batches_events', tenantsBatchesEvents],
  ['003_mission_worker', missionWorker],
  ['004_llm_calls', llmCalls],
  ['005_approvals', approvals],
  ['006_jobs_and_deadlines', jobsAndDeadlines],
  ['007_tenant_llm_urls', tenantLlmUrls],
  ['008_step_claims_and_workers', stepClaimsAndWorkers],
  ['009_idempotent_headers', idempotentHeaders],
  ['010_missions_fillfactor', missionsFillfactor],
  ['011_batch_items_and_usage', batchItemsAndUsage],
  ['012_webhooks', webhooks],
  ['013_retention', retention],
  ['014_key_use', keyUse],
  ['015_fair_webhook_claims', fairWebhookClaims],
  ['016_stored_bytes', storedBytes],
  ['017_saved_workspaces', savedWorkspaces],
  ['018_task_files', taskFiles],
  ['019_waiting_for', waitingFor],
  ['020_scores', scores],
  ['021_epochs', epochs],
];

export const migrationSource: Knex.MigrationSource<readonly [string, Migration]> = {
  getMigrations: async () => [...migrations],
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};

/** The migrations `schema` has not had yet, by name (all of them when it has had none). */
export async function pendingMigrations(knex: Knex, schema: string): Promise<string[]> {
  const applied = (await knex.schema.withSchema(schema).hasTable('knex_migrations'))
    ? new Set<string>(await knex.withSchema(schema).from('knex_migrations').pluck('name'))
    : new Set<string>();
  return migrations.map(([name]) => name).filter((name) => !applied.has(name));
}

/** Brings the connection's schema up to date; creates the schema first when it is missing. */
export async function migrateToLatest(knex: Knex, schema: string): Promise<void> {
  await knex.raw('create schema if not exists ??', [schema]);
  await knex.migrate.latest({ migrationSource, schemaName: schema });
}
