import { z } from 'zod';
import { VOCABULARY } from '../engine/view.ts';
import { UNSTORABLE_TEXT_MESSAGE, isStorableText } from '../engine/uploads.ts';
import type { RetryOptions } from '../machine/policy.ts';

const { phases: STEP_PHASES, topPhases: TOP_PHASES, statuses: STATUSES, mappingTargets: MAPPING_TARGETS, assetTypes: ASSET_TYPES } = VOCABULARY;

/** A string the database can store: PostgreSQL refuses NUL and unpaired surrogates, and one such item must not fail a batch. */
export const storable = (schema: z.ZodString) => schema.refine(isStorableText, UNSTORABLE_TEXT_MESSAGE);

const policyPatch = z
  .object({
    retries: z.number().int().min(0).max(100),
    initialDelayMs: z.number().int().min(0).max(86_400_000),
    factor: z.number().min(1).max(10),
    maxDelayMs: z.number().int().min(0).max(86_400_000),
    jitter: z.boolean(),
    timeoutMs: z.number().int().min(1).max(86_400_000),
  })
  .partial()
  .strict();

export const retryOptionsSchema = policyPatch
  .extend({ phases: z.partialRecord(z.enum(STEP_PHASES), policyPatch).optional() })
  .strict() satisfies z.ZodType<RetryOptions>;

export const fileSchema = z
  .object({
    name: storable(z.string().trim().min(1).max(255)),
    format: z.enum(['csv', 'json', 'xlsx']).optional(),
    /** How `content` is encoded in this JSON body: plain text, or base64 for binary files such as .xlsx. */
    encoding: z.enum(['utf8', 'base64']).default('utf8'),
    content: z.string(),
  })
  .strict();

export const createOptionsSchema = z
  .object({
    retry: retryOptionsSchema.optional(),
    reviewMappings: z.boolean().optional(),
    autoStart: z.boolean().optional(),
  })
  .strict();

export const createBodySchema = z
  .object({
    name: storable(z.string().trim().min(1).max(200)).optional(),
    files: z.array(fileSchema).min(1).max(50),
    options: createOptionsSchema.optional(),
  })
  .strict();
export type CreateBody = z.infer<typeof createBodySchema>;

export const rawUploadQuerySchema = z
  .object({
    name: storable(z.string().trim().min(1).max(200)).optional(),
    filename: storable(z.string().trim().min(1).max(255)).optional(),
    reviewMappings: z.enum(['true', 'false']).optional(),
    autoStart: z.enum(['true', 'false']).optional(),
  })
  .strict();
export type RawUploadQuery = z.infer<typeof rawUploadQuerySchema>;

export const mappingTargetSchema = z.enum(MAPPING_TARGETS);

export const eventBodySchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('START') }).strict(),
  z.object({ type: z.literal('RETRY'), fromPhase: z.enum(STEP_PHASES).optional() }).strict(),
  z.object({ type: z.literal('CANCEL'), reason: storable(z.string().trim().max(500)).optional() }).strict(),
  z
    .object({
      type: z.literal('APPROVE_MAPPINGS'),
      overrides: z.record(storable(z.string().min(1).max(300)), mappingTargetSchema).optional(),
    })
    .strict(),
]);
export type EventBody = z.infer<typeof eventBodySchema>;

export const idParamSchema = z.object({ id: z.uuid({ message: 'must be a workflow id (a UUID)' }) });

const limit = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

export const listQuerySchema = z
  .object({
    status: z.enum(STATUSES).optional(),
    phase: z.enum(TOP_PHASES).optional(),
    limit: limit(500, 50),
    cursor: z.string().max(500).optional(),
  })
  .strict();

export const pageQuerySchema = z.object({ limit: limit(1000, 100), cursor: z.string().max(500).optional() }).strict();

export const assetQuerySchema = pageQuerySchema
  .extend({ type: z.enum(ASSET_TYPES, { error: `must be one of ${ASSET_TYPES.join(', ')}` }).optional() })
  .strict();

export const viewQuerySchema = z.object({ raw: z.enum(['true', 'false']).optional() }).strict();

export const statsQuerySchema = z
  .object({ since: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time such as 2026-01-31T00:00:00Z' }).optional() })
  .strict();

/** A JSON export sent as the whole body (not the { files } envelope): an array of records, or an object of them (NetBox, nested exports). */
export const rawJsonExportSchema = z
  .union([z.array(z.unknown()), z.record(z.string(), z.unknown())])
  .meta({ id: 'RawJsonExport', description: 'A JSON export as the whole body, with ?name=' });

export const streamQuerySchema = z
  .object({ lastEventId: z.string().max(40).optional().meta({ description: 'The same as the Last-Event-ID header, for clients that cannot set headers' }) })
  .strict();

export const streamHeadersSchema = z.object({
  'Last-Event-ID': z.string().max(40).optional().meta({ description: 'The id of the last event received: the stream resumes after it' }),
  'X-Correlation-Id': z.string().optional().meta({ description: 'Your request id; echoed in the answer' }),
});
