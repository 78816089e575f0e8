import { describe, expect, it } from 'vitest';
import { MACHINE_VERSION } from '../../src/machine/machine.ts';
import { migrateSnapshot } from '../../src/machine/migrations.ts';

// A version-1 snapshot as the engine persisted it, waiting in data_validation (trimmed to what matters).
const V1 = {
  status: 'active',
  value: { data_validation: 'running' },
  context: { workflowId: 'w1', name: 'servers', options: { reviewMappings: false, retry: { retries: 5 } }, outputs: {}, review: null },
  children: {},
};

describe('snapshot migrations', () => {
  it('reads a version-1 reviewMappings: false as "not given", which is how version 1 behaved', () => {
    const migrated = migrateSnapshot(V1, 1, MACHINE_VERSION) as typeof V1;
    expect(migrated.context.options).toEqual({ retry: { retries: 5 } });
    expect(migrated.value).toEqual(V1.value);
  });

  it('keeps a version-1 reviewMappings: true', () => {
    const asked = { ...V1, context: { ...V1.context, options: { reviewMappings: true } } };
    expect((migrateSnapshot(asked, 1, MACHINE_VERSION) as typeof V1).context.options).toEqual({ reviewMappings: true });
  });
});
