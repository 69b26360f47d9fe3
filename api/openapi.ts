import { z } from 'zod';
import { missionSpecSchema, type MissionLimits } from '../jobs/mission';
import { customCallSchema, planStepSchema, toolCallSchema } from '../jobs/tools';
import { newTenantSchema, tenantChangesSchema } from './handlers/admin';
import { compareQuerySchema, resultsQuerySchema, retrySchema } from './handlers/batches';
import { scorerSchema } from '../scoring/score';
import { newWebhookSchema } from './handlers/webhooks';
import { approvalSchema, listQuerySchema, stepsQuerySchema } from './handlers/missions';

const plain = (type: z.ZodType) => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(type, { io: 'input', unrepresentable: 'any' });
  return rest;
};
// A plan's step is read by its tool's name (jobs/tools.ts): shown as what it accepts, a built-in's call or a custom one.
const planStep = { anyOf: [plain(toolCallSchema), plain(customCallSchema)] };
const schema = (type: z.ZodType) =>
  z.toJSONSchema(type, {
    io: 'input',
    unrepresentable: 'any',
    override: (context) => {
      if (context.zodSchema === planStepSchema) Object.assign(context.jsonSchema, planStep);
    },
  });
const problem = { description: 'An RFC 9457 problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
const json = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
const errors = { 400: problem, 401: problem, 404: problem, 429: problem };
const queryParameters = (type: z.ZodObject) =>
  Object.entries(type.shape).map(([name, field]) => ({ name, in: 'query', required: false, schema: schema(field as z.ZodType) }));
const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const idempotencyKey = { name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } };

/** The OpenAPI document served at /openapi.json, built from the same zod schemas the routes validate with. */
export function openApiDocument(maxBatch: number, missionLimits: MissionLimits) {
  return {
    openapi: '3.1.0',
    info: { title: 'mission-control', version: '1', description: 'AI-agent missions as batch jobs, run in gVisor sandboxes.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        MissionSpec: schema(missionSpecSchema(missionLimits)),
        NewTenant: schema(newTenantSchema),
        Problem: {
          type: 'object',
          required: ['type', 'title', 'status'],
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, errors: { type: 'array' } },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/missions': {
        post: {
          summary: 'Submit one mission; committed before the answer',
          parameters: [idempotencyKey],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/MissionSpec' } } } },
          responses: { 201: json('The mission'), 409: problem, 422: problem, ...errors },
        },
        get: { summary: 'List missions, newest first', parameters: queryParameters(listQuerySchema), responses: { 200: json('{data, next_cursor}'), ...errors } },
      },
      '/v1/missions/batch': {
        post: {
          summary: `Submit up to ${maxBatch} missions; valid ones are accepted even when others are not`,
          parameters: [idempotencyKey],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['missions'],
                  additionalProperties: false,
                  properties: {
                    missions: { type: 'array', maxItems: maxBatch, items: { $ref: '#/components/schemas/MissionSpec' } },
                    token_limit: { type: 'integer', minimum: 1, description: 'model tokens the whole batch may use; past it, its unfinished missions are cancelled' },
                    epochs: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: 'runs of each item, as that many missions with its custom_id and epoch 1..k; items times epochs at most the batch size' },
                    scorer: { ...schema(scorerSchema), description: 'the scorer of each item that names none of its own' },
                  },
                },
              },
            },
          },
          responses: { 202: json('{batch_id, accepted, rejected, items}'), 413: problem, ...errors },
        },
      },
      '/v1/missions/{id}': { get: { summary: 'A mission with its steps', parameters: [idParameter], responses: { 200: json('The mission'), ...errors } } },
      '/v1/missions/{id}/steps': {
        get: { summary: 'The ReAct trace, paged', parameters: [idParameter, ...queryParameters(stepsQuerySchema)], responses: { 200: json('{data, next_cursor}'), ...errors } },
      },
      '/v1/missions/{id}/events': {
        get: {
          summary: 'Server-Sent Events of status changes and steps; resumable with Last-Event-ID',
          parameters: [idParameter, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', pattern: '^\\d+$' } }],
          responses: { 200: { description: 'text/event-stream', content: { 'text/event-stream': {} } }, ...errors },
        },
      },
      '/v1/missions/{id}/approvals': {
        post: {
          summary: 'Approve or reject the step a mission waits on; it continues where it stopped',
          parameters: [idParameter],
          requestBody: { required: true, content: { 'application/json': { schema: schema(approvalSchema) } } },
          responses: { 200: json('The mission'), 409: problem, ...errors },
        },
      },
      '/v1/missions/{id}/cancel': { post: { summary: 'Cancel a mission', parameters: [idParameter], responses: { 200: json('The mission'), 409: problem, ...errors } } },
      '/v1/batches/{id}': {
        get: { summary: 'A batch: status, counts of its items by status, usage, durations', parameters: [idParameter], responses: { 200: json('The batch'), ...errors } },
      },
      '/v1/batches/{id}/results': {
        get: {
          summary: 'The results file: JSON Lines, one line per item in submission order, streamed',
          parameters: [idParameter, ...queryParameters(resultsQuerySchema)],
          responses: { 200: { description: 'application/x-ndjson', content: { 'application/x-ndjson': {} } }, ...errors },
        },
      },
      '/v1/batches/{id}/cancel': {
        post: { summary: 'Cancel every unfinished mission of the batch', parameters: [idParameter], responses: { 202: json('The batch'), 409: problem, ...errors } },
      },
      '/v1/batches/{id}/retry': {
        post: {
          summary: 'A new attempt of each item that failed; succeeded items never run again',
          parameters: [idParameter, idempotencyKey],
          requestBody: { required: false, content: { 'application/json': { schema: schema(retrySchema) } } },
          responses: { 202: json('{batch_id, retried, items}'), ...errors },
        },
      },
      '/v1/batches/{id}/compare': {
        get: {
          summary: 'How each item changed since another batch, paired by custom_id; the mean score difference with its 95% interval and p-value',
          parameters: [idParameter, ...queryParameters(compareQuerySchema).map((parameter) => ({ ...parameter, required: parameter.name === 'with' }))],
          responses: { 200: json('{batch_id, with, counts, difference, items}'), ...errors },
        },
      },
      '/v1/missions/{id}/artifacts': { get: { summary: 'The files the mission kept: what was kept and left out, each with its size and sha256', parameters: [idParameter], responses: { 200: json('{mission_id, summary, data}'), ...errors } } },
      '/v1/missions/{id}/artifacts.tar.gz': { get: { summary: 'Every file the mission kept, as one tar.gz', parameters: [idParameter], responses: { 200: { description: 'application/gzip' }, ...errors } } },
      '/v1/missions/{id}/artifacts/{path}': {
        get: {
          summary: "One file the mission kept, its bytes as they were",
          parameters: [idParameter, { name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 200: { description: 'application/octet-stream' }, ...errors },
        },
      },
      '/v1/files': {
        post: {
          summary: 'Upload an archive (tar, tar.gz or zip) for missions to start with; the same bytes twice are one file',
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
          responses: { 200: json('The file uploaded before with these bytes'), 201: json('{file_id, bytes, sha256, expanded_bytes, entries}'), 413: problem, 415: problem, 422: problem, 503: problem, ...errors },
        },
      },
      '/v1/files/{id}': { get: { summary: 'An uploaded file', parameters: [idParameter], responses: { 200: json('{file_id, bytes, sha256, expanded_bytes, entries}'), ...errors } } },
      '/v1/webhooks': {
        post: {
          summary: 'Register an endpoint for mission.ended and batch.ended (Standard Webhooks); its signing secret is answered once',
          requestBody: { required: true, content: { 'application/json': { schema: schema(newWebhookSchema) } } },
          responses: { 201: json('The webhook, with its secret'), ...errors },
        },
        get: { summary: "The tenant's webhooks", responses: { 200: json('{data}'), ...errors } },
      },
      '/v1/webhooks/{id}': { delete: { summary: 'Remove a webhook and its deliveries', parameters: [idParameter], responses: { 204: { description: 'Removed' }, ...errors } } },
      '/v1/webhooks/{id}/deliveries': {
        get: {
          summary: 'Deliveries, newest first, each with its attempts and what the endpoint answered',
          parameters: [idParameter, { name: 'limit', in: 'query', required: false, schema: { type: 'integer', maximum: 100 } }, { name: 'cursor', in: 'query', required: false, schema: { type: 'string' } }],
          responses: { 200: json('{data, next_cursor}'), ...errors },
        },
      },
      '/v1/webhooks/{id}/deliveries/{delivery}/redeliver': {
        post: {
          summary: 'Send a delivery again, under the same webhook-id',
          parameters: [idParameter, { name: 'delivery', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { 202: json('{id, status}'), ...errors },
        },
      },
      '/v1/admin/tenants': {
        post: {
          summary: 'Create a tenant and its API key (admin key only)',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/NewTenant' } } } },
          responses: { 201: json('{tenant, api_key}'), 403: problem, 409: problem, ...errors },
        },
      },
      '/v1/admin/tenants/{id}': {
        patch: {
          summary: "Change a tenant's rate limit, or whether its missions may name a model URL of their own (admin key only)",
          parameters: [idParameter],
          requestBody: { required: true, content: { 'application/json': { schema: schema(tenantChangesSchema) } } },
          responses: { 200: json('The tenant'), 403: problem, ...errors },
        },
      },
      '/healthz': { get: { summary: 'The process is up', security: [], responses: { 200: json('ok') } } },
      '/readyz': { get: { summary: 'Postgres and Redis answer', security: [], responses: { 200: json('ready'), 503: problem } } },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { 200: { description: 'text/plain' } } } },
    },
  };
}
