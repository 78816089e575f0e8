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
  /** How often this instance says it is alive (INSTANCE_HEARTBEAT_SECONDS); default 2 s, at most a third of a lease. */
  heartbeatMs?: number;
  /** An instance silent this long is dead and loses its workflows (INSTANCE_TIMEOUT_SECONDS). */
  deadAfterMs?: number;
  /** Writes the heartbeat row; a failure is logged, the beat goes on. */
  heartbeat?(): Promise<void>;
  /** The workflows this instance runs now: the leases to renew. */
  held(): string[];
  /** Another instance took `id` over: stop running it here. */
  lost(id: string): void;
  /** Restores the workflows of instances that died; returns how many. */
  adopt(): Promise<number>;
  /** Housekeeping on every beat, before the renewal. */
  onBeat?(beat: number): void;
}

/**
 * This instance's claims on its workflows: a heartbeat row that keeps them all (an instance silent for
 * longer than the timeout loses them at once), lease renewal every third of a lease (the fallback for
 * owners without a heartbeat row), handing back, and adopting the workflows of instances that died.
 */
export class LeaseKeeper {
  private readonly timer: NodeJS.Timeout;
  private stopped = false;
  private lastRenewal = Date.now();
  private beating = false;
  private current: Promise<void> = Promise.resolve();
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;

  constructor(private readonly deps: LeaseKeeperDeps) {
    this.heartbeatMs = Math.max(50, Math.min(deps.heartbeatMs ?? 2_000, Math.floor(deps.leaseMs / 3)));
    this.deadAfterMs = deps.deadAfterMs ?? 10_000;
    let beats = 0;
    this.timer = setInterval(() => {
      beats += 1;
      if (!this.beating) this.current = this.beat(beats);
    }, this.heartbeatMs);
    this.timer.unref();
  }

  get instanceId(): string {
    return this.deps.instanceId;
  }

  /** Registers this instance (its first heartbeat) before it claims anything. */
  async register(): Promise<void> {
    await this.deps.heartbeat?.();
  }

  /** Claims one workflow; null when it does not exist, is completed, or another live instance holds it. */
  claim(id: string, countOwn = true): Promise<WorkflowRow | null> {
    return this.deps.store.claim(id, this.deps.instanceId, this.deps.leaseMs, this.deadAfterMs, countOwn);
  }

  /** Claims unfinished workflows no live instance holds: the ones this instance must restore. */
  claimUnfinished(options: { busyLimit: number; includeOwn: boolean }): Promise<WorkflowRow[]> {
    return this.deps.store.claimUnfinished(this.deps.instanceId, this.deps.leaseMs, {
      deadAfterMs: this.deadAfterMs,
      busyLimit: options.busyLimit,
      includeNeedsMigration: options.includeOwn,
      excludeOwn: !options.includeOwn,
    });
  }

  /** When a lease taken now runs out. */
  leaseUntil(now: Date): Date {
    return new Date(now.getTime() + this.deps.leaseMs);
  }

  /** Hands leases back so another instance may take the workflows over at once; never throws. */
  async release(ids: string[]): Promise<void> {
    await this.deps.store.releaseLeases(this.deps.instanceId, ids).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'leases not released'));
  }

  /** Stops beating; resolves once a beat in flight (a renewal, an adoption) has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.current;
  }

  private async beat(beat: number): Promise<void> {
    // A slow database must not pile beats up.
    if (this.beating || this.stopped) return;
    this.beating = true;
    try {
      this.deps.onBeat?.(beat);
      if (this.deps.heartbeat) {
        try {
          await this.deps.heartbeat();
        } catch (error) {
          this.deps.logger.warn({ err: error }, 'heartbeat not written');
        }
      }
      if (Date.now() - this.lastRenewal >= this.deps.leaseMs / 3 - this.heartbeatMs / 2) {
        this.lastRenewal = Date.now();
        await this.renew();
      }
      await this.adopt();
    } finally {
      this.beating = false;
    }
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
      if (restored > 0) this.deps.logger.info({ restored }, 'adopted workflows of an instance that stopped or died');
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'orphan check failed');
    }
  }
}
