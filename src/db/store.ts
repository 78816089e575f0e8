import { artifactStore, type ArtifactStore } from './artifacts.ts';
import { clusterStore, type ClusterStore } from './cluster.ts';
import type { Database } from './client.ts';
import { historyStore, type HistoryStore } from './history.ts';
import { idempotencyStore, type IdempotencyStore } from './idempotency.ts';
import { inventoryStore, type InventoryStore } from './inventory.ts';
import { leaseStore, type LeaseStore } from './leases.ts';
import { statsStore, type StatsStore } from './stats.ts';
import { uploadStore, type UploadStore } from './uploads.ts';
import { workflowStore, type WorkflowRowStore } from './workflows.ts';

/** All SQL of the service, one concern per module, on one injected database. */
export type WorkflowStore = { readonly db: Database } & WorkflowRowStore &
  LeaseStore &
  IdempotencyStore &
  HistoryStore &
  ArtifactStore &
  InventoryStore &
  StatsStore &
  ClusterStore &
  UploadStore;

export function createStore(db: Database): WorkflowStore {
  const history = historyStore(db);
  const uploads = uploadStore(db);
  return {
    db,
    ...workflowStore(db, history, uploads),
    ...leaseStore(db),
    ...idempotencyStore(db),
    ...history,
    ...artifactStore(db, uploads),
    ...inventoryStore(db),
    ...statsStore(db),
    ...clusterStore(db),
    ...uploads,
  };
}
