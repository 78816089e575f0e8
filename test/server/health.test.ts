import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/client.ts';
import { pgPoolOf } from '../../src/db/copy.ts';
import { createStore } from '../../src/db/store.ts';
import { wireService } from '../../src/server/service.ts';
import { DRIVERS, freshPostgresUrl } from '../support/db.ts';
import { testLogger } from '../support/logger.ts';
import { fakeSteps } from '../support/steps.ts';

describe.each(DRIVERS)('/healthz while the service pool is taken (%s)', (kind) => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    // A main pool of one connection, so one checkout takes all of it.
    const config = kind === 'pglite' ? { dataDir: null } : { url: await freshPostgresUrl(process.env.DATABASE_URL!, `health${process.env.VITEST_POOL_ID ?? '0'}`) };
    handle = await openDatabase(config, { poolSize: 1, timeouts: { connectMs: 1_500, queryMs: 5_000 } });
  }, 60_000);

  afterAll(async () => {
    await handle?.close();
  });

  const wire = (withHealthStore: boolean) =>
    wireService({
      store: createStore(handle.db),
      ...(withHealthStore ? { healthStore: createStore(handle.healthDb) } : {}),
      logger: testLogger(),
      maxUploadBytes: 1 << 20,
      steps: () => fakeSteps(),
    });

  it('answers 200 through the health pool, where the service pool would have left it waiting into a 503', async () => {
    const held = await pgPoolOf(handle.db)!.connect();
    const withHealth = wire(true);
    const without = wire(false);
    try {
      const ok = await withHealth.app.request('/healthz');
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ database: 'reachable' });
      // The same probe on the service's own pool waits for the held connection and gives up.
      const starved = await without.app.request('/healthz');
      expect(starved.status).toBe(503);
      expect(await starved.json()).toMatchObject({ code: 'DATABASE_UNREACHABLE' });
    } finally {
      held.release();
      await Promise.all([withHealth.engine.stop(), without.engine.stop()]);
    }
  });
});
