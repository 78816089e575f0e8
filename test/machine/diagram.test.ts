import { describe, expect, it } from 'vitest';
import { createMachine, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { machineDefinition, mermaidDiagram } from '../../src/machine/diagram.ts';
import { EVENT_TYPES, workflowMachine } from '../../src/machine/machine.ts';
import { STEP_PHASES, TOP_PHASES, TRANSITIONS } from '../../src/machine/table.ts';

function nodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap(nodes)];
}

/** Every transition as `source event [guard] -> targets`, the shape a visualiser draws. */
function graph(machine: AnyStateMachine): string[] {
  return nodes(machine.root)
    .flatMap((node) =>
      [...node.transitions.values(), node.always ?? []].flat().map((t) => {
        const guard = typeof t.guard === 'string' ? t.guard : ((t.guard as { type?: string } | undefined)?.type ?? '');
        return `${node.id} ${t.eventType} [${guard}] -> ${(t.target ?? []).map((n: AnyStateNode) => n.id).join(',')}`;
      }),
    )
    .sort();
}

function containsFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (value && typeof value === 'object') return Object.values(value).some(containsFunction);
  return false;
}

/** Top-level edges `from --> to` (two-space indent: not inside a phase block). */
function topLevelEdges(text: string): Set<string> {
  return new Set(
    text
      .split('\n')
      .map((line) => /^ {2}(\w+) --> (\w+)/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[1]} -> ${m[2]}`),
  );
}

describe('machine definition', () => {
  it('is plain JSON that survives a round trip', () => {
    const definition = machineDefinition();
    expect(containsFunction(definition)).toBe(false);
    expect(JSON.parse(JSON.stringify(definition))).toEqual(definition);
    expect(definition).toMatchObject({ id: 'workflow', initial: 'pending' });
  });

  it('rebuilds a machine with the same states and transitions as the real one', () => {
    const rebuilt = createMachine(JSON.parse(JSON.stringify(machineDefinition())) as Parameters<typeof createMachine>[0]);
    expect(nodes(rebuilt.root).map((n) => n.id)).toEqual(nodes(workflowMachine.root).map((n) => n.id));
    expect(graph(rebuilt)).toEqual(graph(workflowMachine));
    expect(graph(workflowMachine).length).toBeGreaterThan(40);
  });
});

describe('mermaid diagram', () => {
  const text = mermaidDiagram();

  it('is a stateDiagram-v2 that starts in pending and ends in completed', () => {
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(text).toMatch(/^ {2}\[\*\] --> pending$/m);
    expect(text).toMatch(/^ {2}completed --> \[\*\]$/m);
  });

  it('names every state, with running, backoff and review nested in their phase', () => {
    for (const phase of TOP_PHASES) expect(text).toMatch(new RegExp(`^ {2}(state )?${phase}( \\{)?$`, 'm'));
    for (const phase of STEP_PHASES) {
      const block = new RegExp(`^ {2}state ${phase} \\{\\n([\\s\\S]*?)^ {2}\\}$`, 'm').exec(text)?.[1] ?? '';
      expect(block).toContain(`[*] --> ${phase}__running`);
      expect(block).toContain(`state "running" as ${phase}__running`);
      expect(block).toContain(`state "backoff" as ${phase}__backoff`);
      expect(block).toContain(`${phase}__running : invokes step.${phase}`);
      expect(block).toContain(`${phase}__running --> ${phase}__backoff : onError step.${phase} [canRetryStep]`);
      expect(block).toContain(`${phase}__backoff --> ${phase}__running : onDone wait.${phase}`);
      expect(block.includes('state "review"')).toBe(phase === 'field_mapping');
    }
    expect(text).toContain('field_mapping__review --> field_mapping__running : APPROVE_MAPPINGS');
  });

  it('draws exactly the top-level transitions of the table', () => {
    const expected = Object.entries(TRANSITIONS).flatMap(([from, targets]) => targets.map((to) => `${from} -> ${to}`));
    const drawn = [...topLevelEdges(text)].filter((e) => !e.includes('[*]'));
    expect(drawn.sort()).toEqual([...new Set(expected)].sort());
  });

  it('labels edges with event names and shows invoke results readably', () => {
    for (const type of EVENT_TYPES) expect(text).toMatch(new RegExp(` : ${type}( \\[|$)`, 'm'));
    expect(text).toContain('data_source_analysis --> data_validation : onDone step.data_source_analysis [else]');
    expect(text).toContain('data_source_analysis --> failed : onError step.data_source_analysis [else]');
    expect(text).toContain('database_integration --> failed : onDone step.database_integration [outputsIncomplete]');
    expect(text).toContain('failed --> retrying : RETRY [canRetryWorkflow]');
    expect(text).toContain('retrying --> dependency_analysis : always [retryTargetIs]');
    expect(text).not.toContain('xstate.');
  });
});
