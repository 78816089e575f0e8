import { describe, expect, it } from 'vitest';
import { assessMapping } from '../../src/handlers/outcome.ts';
import type { MappingOutput, ValidationOutput } from '../../src/handlers/types.ts';

function validation(records: number, quarantined: number): ValidationOutput {
  const quarantine = Array.from({ length: quarantined }, (_, row) => ({ table: 't.csv', row, record: {}, findings: [{ table: 't.csv', row, severity: 'error' as const, code: 'NO_IDENTITY', message: 'no identity' }] }));
  return { tables: [{ table: 't.csv', records, valid: records - quarantined, errors: quarantined, warnings: 0, quarantined, qualityScore: 50 }], findings: quarantine.flatMap((record) => record.findings), quarantine };
}

const clean: MappingOutput = { mappings: [], lowConfidence: false, reviewReasons: [], unidentified: [] };
const unsure: MappingOutput = { ...clean, lowConfidence: true, reviewReasons: ['LOW_CONFIDENCE: t.csv: identity column "obj" → name has low confidence 0.55 (decided by values: ...).'] };
const unidentified: MappingOutput = { ...clean, lowConfidence: true, reviewReasons: ['NO_IDENTITY_COLUMN: t.csv: no column maps to an identity field.'], unidentified: ['t.csv'] };

describe('assessMapping', () => {
  it('goes on when nothing is wrong', () => {
    expect(assessMapping(clean, validation(10, 0), { approved: false })).toEqual({ review: { required: false, reasons: [] } });
  });

  it('asks about low confidence unless reviewMappings was set to false', () => {
    expect(assessMapping(unsure, validation(10, 0), { approved: false }).review).toEqual({ required: true, reasons: unsure.reviewReasons });
    expect(assessMapping(unsure, validation(10, 0), { approved: false, reviewMappings: false }).review.required).toBe(false);
  });

  it('stops at the review when more than half of a table is quarantined, with the share and the findings', () => {
    const { review } = assessMapping(clean, validation(10, 6), { approved: false });
    expect(review.reasons).toEqual(['TOO_MANY_QUARANTINED: t.csv: 6 of 10 records (60%) were quarantined, more than the 50% allowed (NO_IDENTITY 6).']);
    expect(assessMapping(clean, validation(10, 6), { approved: false, maxQuarantineShare: 0.7 }).review.required).toBe(false);
    // A reviewer who saw it and approved lets it through.
    expect(assessMapping(clean, validation(10, 6), { approved: true }).review.required).toBe(false);
  });

  it('fails with a code and a hint when nobody may be asked: reviewMappings false, or the reviewed mappings still identify nothing', () => {
    expect(() => assessMapping(unidentified, validation(10, 10), { approved: false, reviewMappings: false })).toThrow(expect.objectContaining({ code: 'NO_IDENTITY_COLUMN', retryable: false, hint: expect.stringContaining('override') }));
    expect(() => assessMapping(clean, validation(10, 10), { approved: true })).toThrow(expect.objectContaining({ code: 'NO_USABLE_RECORDS', message: expect.stringContaining('All 10 records were quarantined') }));
    expect(() => assessMapping(clean, validation(10, 6), { approved: false, reviewMappings: false })).toThrow(expect.objectContaining({ code: 'TOO_MANY_QUARANTINED' }));
  });
});
