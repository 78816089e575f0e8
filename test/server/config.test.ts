import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/server/config.ts';

describe('loadConfig: mapping review thresholds', () => {
  it('defaults to confidence 0.7 and a quarantined share of 0.5, and names a bad value', () => {
    expect(loadConfig({}).review).toEqual({ confidence: 0.7, quarantineShare: 0.5 });
    expect(loadConfig({ MAPPING_REVIEW_CONFIDENCE: '0.8', QUARANTINE_REVIEW_SHARE: '0.25' }).review).toEqual({ confidence: 0.8, quarantineShare: 0.25 });
    expect(() => loadConfig({ QUARANTINE_REVIEW_SHARE: '50%' })).toThrow(/QUARANTINE_REVIEW_SHARE/);
    expect(() => loadConfig({ MAPPING_REVIEW_CONFIDENCE: '2' })).toThrow(/MAPPING_REVIEW_CONFIDENCE/);
  });
});
