import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { workflowMachine } from '../../src/machine/machine.ts';
import { TERMINAL_PHASES, TOP_PHASES, TRANSITIONS, type TopPhase } from '../../src/machine/table.ts';
import { MissingOutputsError, WorkflowStateValidator, missingOutputs, retryRejection } from '../../src/machine/validator.ts';

function descendants(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(descendants)];
}

/** Every transition of every state node — `on`, `always`, invoke done/error — mapped to top-level phases. */
function phaseGraph(): Map<TopPhase, Set<TopPhase>> {
  const graph = new Map<TopPhase, Set<TopPhase>>();
  for (const top of Object.values(workflowMachine.root.states)) {
    const from = top.key as TopPhase;
    const targets = new Set<TopPhase>();
    for (const node of descendants(top)) {
      const definitions = [...node.transitions.values()].flat().concat(node.always ?? []);
      for (const t of definitions) {
        for (const target of t.target ?? []) {
          const to = target.path[0] as TopPhase;
          if (to !== from) targets.add(to);
        }
      }
    }
    graph.set(from, targets);
  }
  return graph;
}

describe('transition table', () => {
  it('the machine has exactly the top-level phases of the table', () => {
    expect(Object.keys(workflowMachine.root.states).sort()).toEqual([...TOP_PHASES].sort());
  });

  it("the machine's phase graph equals the table exactly: no missing and no extra moves", () => {
    const graph = phaseGraph();
    for (const phase of TOP_PHASES) {
      expect([...(graph.get(phase) ?? [])].sort(), `moves out of ${phase}`).toEqual([...TRANSITIONS[phase]].sort());
    }
  });

  it('walks invoke done and error transitions and always transitions', () => {
    const events = descendants(workflowMachine.root).flatMap((n) => [...n.transitions.keys()]);
    expect(events.filter((e) => e.startsWith('xstate.done.actor.step.'))).toHaveLength(6);
    expect(events.filter((e) => e.startsWith('xstate.error.actor.step.'))).toHaveLength(6);
    expect(events.filter((e) => e.startsWith('xstate.done.actor.wait.'))).toHaveLength(6);
    expect(workflowMachine.root.states.retrying!.always).toHaveLength(7);
  });
});

describe('WorkflowStateValidator', () => {
  it('accepts the moves of the table and rejects any other with a clear message', () => {
    expect(WorkflowStateValidator.canTransition('pending', 'data_source_analysis')).toBe(true);
    expect(WorkflowStateValidator.canTransition('retrying', 'dependency_analysis')).toBe(true);
    expect(() => WorkflowStateValidator.assertTransition('data_validation', 'asset_classification')).toThrow(
      /cannot move from data_validation to asset_classification; from data_validation it may move to field_mapping, failed/,
    );
    expect(() => WorkflowStateValidator.assertTransition('completed', 'retrying')).toThrow(/terminal/);
  });

  it('lists as terminal exactly the phases where nothing runs and nothing moves on by itself', () => {
    const atRest = Object.values(workflowMachine.root.states)
      .filter((node) => descendants(node).every((n) => n.invoke.length === 0 && (n.always ?? []).length === 0))
      .filter((node) => !descendants(node).some((n) => n.ownEvents.includes('START')))
      .map((node) => node.key);
    expect(atRest).toEqual([...TERMINAL_PHASES]);
  });

  it('names the missing required outputs of a phase', () => {
    expect(missingOutputs('data_source_analysis', { cmdb_data: {} })).toEqual(['source_analysis']);
    expect(new MissingOutputsError('data_source_analysis', missingOutputs('data_source_analysis', {})).message).toMatch(/cmdb_data, source_analysis/);
    expect(missingOutputs('field_mapping', { field_mappings: {} })).toEqual([]);
  });

  it('explains why a partial restart cannot run', () => {
    const flags = {
      data_source_analysis_complete: true,
      data_validation_complete: false,
      field_mapping_complete: false,
      asset_classification_complete: false,
      dependency_analysis_complete: false,
      database_integration_complete: false,
    };
    const state = { failedPhase: 'data_validation' as const, outputs: { cmdb_data: {}, source_analysis: {} }, flags };
    expect(retryRejection(state, undefined)).toBeNull();
    expect(retryRejection(state, 'data_source_analysis')).toBeNull();
    expect(retryRejection(state, 'field_mapping')).toMatch(/data_validation has not completed/);
    expect(retryRejection(state, 'nonsense')).toMatch(/fromPhase must be one of/);
  });
});
