import type { LeaseStore } from '../db/leases.ts';
import type { WorkflowRow } from '../db/schema.ts';
import type { Logger } from './logger.ts';

export interface LeaseKeeperDeps {
  store: LeaseStore;
  logger: Logger;
  /** Who holds the leases; stable across restarts of one instance. */
  instanceId: string;
  /** How long a claim on a workflow holds without renewal. */
  leaseMs: number;
  /** The workflows this instance runs now: the leases to renew. */
  held(): string[];
  /** Another instance took `id` over: stop running it here. */
  lost(id: string): void;
  /** Restores the workflows of instances that stopped renewing; returns how many. */
  adopt(): Promise<number>;
  /** Housekeeping on every beat, before the renewal. */
  onBeat?(): void;
}

/**
 * This instance's claims on its workflows: claiming, renewing well before a lease runs out (a third
 * of its length), handing back, and adopting the workflows of instances that died.
 */
export class LeaseKeeper {
  private readonly heartbeat: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly deps: LeaseKeeperDeps) {
    let beats = 0;
    this.heartbeat = setInterval(() => {
      beats += 1;
      deps.onBeat?.();
      void this.renew();
      if (beats % 3 === 0) void this.adopt();
    }, Math.max(50, Math.floor(deps.leaseMs / 3)));
    this.heartbeat.unref();
  }

  get instanceId(): string {
    return this.deps.instanceId;
  }

  /** Claims one workflow; null when it does not exist, is completed, or another live instance holds it. */
  claim(id: string): Promise<WorkflowRow | null> {
    return this.deps.store.claim(id, this.deps.instanceId, this.deps.leaseMs);
  }

  /** Claims every unfinished workflow no live instance holds: the ones this instance must restore. */
  claimUnfinished(): Promise<WorkflowRow[]> {
    return this.deps.store.claimUnfinished(this.deps.instanceId, this.deps.leaseMs);
  }

  /** When a lease taken now runs out. */
  leaseUntil(now: Date): Date {
    return new Date(now.getTime() + this.deps.leaseMs);
  }

  /** Hands leases back so another instance may take the workflows over at once; never throws. */
  async release(ids: string[]): Promise<void> {
    await this.deps.store.releaseLeases(this.deps.instanceId, ids).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'leases not released'));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
  }

  private async renew(): Promise<void> {
    try {
      const lost = await this.deps.store.renewLeases(this.deps.instanceId, this.deps.held(), this.deps.leaseMs);
      for (const id of lost) this.deps.lost(id);
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'leases not renewed');
    }
  }

  private async adopt(): Promise<void> {
    if (this.stopped) return;
    try {
      const restored = await this.deps.adopt();
      if (restored > 0) this.deps.logger.info({ restored }, 'adopted workflows of an instance that stopped renewing its leases');
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'orphan check failed');
    }
  }
}
