import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommittedChange } from '../engine/engine.ts';
import type { StepOutcome } from '../engine/steps.ts';
import { STEP_PHASES, TOP_PHASES, type TopPhase } from '../machine/table.ts';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const WORKFLOW_STATUSES = ['started', 'completed', 'failed'] as const;
// Outcomes whose duration series exist from the first scrape (cancelled and interrupted appear when they happen).
const ALERTED_OUTCOMES: readonly StepOutcome[] = ['succeeded', 'failed', 'timed_out'];
// prom-client's default gauges named like counters: `promtool check metrics` refuses them, and the
// `nodejs_active_handles{type}` style gauges next to them carry the same numbers by type.
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const PERSIST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The service's Prometheus metrics, in a registry of their own (no global state). */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly stepDuration: Histogram<'phase' | 'outcome'>;
  private readonly stepAttempts: Counter<'phase'>;
  private readonly stepRetries: Counter<'phase'>;
  private readonly stepFailures: Counter<'phase'>;
  private readonly workflows: Counter<'status'>;
  private readonly persist: Histogram;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  constructor(livePhases: () => Map<TopPhase, number>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.stepDuration = new Histogram({
      name: 'discovery_step_duration_seconds',
      help: 'Duration of one step attempt',
      labelNames: ['phase', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.stepAttempts = new Counter({ name: 'discovery_step_attempts_total', help: 'Step attempts started', labelNames: ['phase'], registers });
    this.stepRetries = new Counter({ name: 'discovery_step_retries_total', help: 'Retries scheduled after a failed attempt', labelNames: ['phase'], registers });
    this.stepFailures = new Counter({
      name: 'discovery_step_failures_total',
      help: 'Step attempts that failed or timed out (retried or not)',
      labelNames: ['phase'],
      registers,
    });
    this.workflows = new Counter({ name: 'discovery_workflows_total', help: 'Workflows started, completed and failed', labelNames: ['status'], registers });
    new Gauge({
      name: 'discovery_workflows_active',
      help: 'Live workflows in this process per phase',
      labelNames: ['phase'],
      registers,
      collect() {
        // Every phase has a sample, 0 when nothing is there, so alerts and rate() see the series from the start.
        const live = livePhases();
        for (const phase of TOP_PHASES) this.set({ phase }, live.get(phase) ?? 0);
      },
    });
    this.persist = new Histogram({
      name: 'discovery_state_persist_seconds',
      help: 'From a state change to the commit of its snapshot and audit row',
      buckets: PERSIST_BUCKETS,
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    // Counters with labels have no sample until first incremented; create every series a user alerts on at 0.
    for (const status of WORKFLOW_STATUSES) this.workflows.inc({ status }, 0);
    for (const phase of STEP_PHASES) {
      this.stepAttempts.inc({ phase }, 0);
      this.stepRetries.inc({ phase }, 0);
      this.stepFailures.inc({ phase }, 0);
      for (const outcome of ALERTED_OUTCOMES) this.stepDuration.zero({ phase, outcome });
    }
  }

  onAttempt(phase: string, outcome: StepOutcome, seconds: number): void {
    this.stepAttempts.inc({ phase });
    this.stepDuration.observe({ phase, outcome }, seconds);
    if (outcome === 'failed' || outcome === 'timed_out') this.stepFailures.inc({ phase });
  }

  onCommitted(change: CommittedChange): void {
    if (change.eventType === 'START') this.workflows.inc({ status: 'started' });
    if (change.status === 'backoff' && change.fromPhase === change.toPhase) this.stepRetries.inc({ phase: change.toPhase });
    if (change.fromPhase !== change.toPhase && (change.toPhase === 'completed' || change.toPhase === 'failed')) {
      this.workflows.inc({ status: change.toPhase });
    }
  }

  onPersisted(seconds: number): void {
    this.persist.observe(seconds);
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
