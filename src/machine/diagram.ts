// Two views of the statechart for people and tools: its config as plain JSON (what
// createMachine takes, what Stately Studio and the inspector draw) and a Mermaid diagram.
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { workflowMachine, type JsonObject, type JsonValue } from './machine.ts';

function toJson(value: unknown): JsonValue | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  // Functions (the context factory, invoke inputs) are code, not definition: they are left out.
  if (typeof value !== 'object') return undefined;
  if (Array.isArray(value)) return value.map(toJson).filter((v): v is JsonValue => v !== undefined);
  const entries = Object.entries(value as Record<string, unknown>).flatMap(([key, v]) => {
    const json = toJson(v);
    return json === undefined ? [] : [[key, json] as const];
  });
  return Object.fromEntries(entries);
}

/**
 * The machine's config as JSON: states, transitions, guards and actions by name, invokes by
 * id and src. `createMachine(machineDefinition())` rebuilds the same graph without the code.
 */
export function machineDefinition(machine: AnyStateMachine = workflowMachine): JsonObject {
  return toJson(machine.config) as JsonObject;
}

const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';

function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'guard';
  if (typeof guard === 'object' && 'type' in guard && typeof guard.type === 'string') return guard.type;
  return 'guard';
}

/** `xstate.done.actor.step.x` reads as `onDone step.x`; user events stay as they are. */
function eventLabel(eventType: string): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith(DONE_ACTOR)) return `onDone ${eventType.slice(DONE_ACTOR.length)}`;
  if (eventType.startsWith(ERROR_ACTOR)) return `onError ${eventType.slice(ERROR_ACTOR.length)}`;
  return eventType;
}

// Mermaid ids are global, so nested states are named by their path; the label keeps the key.
const mermaidId = (node: AnyStateNode): string => node.path.join('__');

/** The ancestors of `node` from the root down to `node` itself. */
function lineage(node: AnyStateNode): AnyStateNode[] {
  const chain: AnyStateNode[] = [];
  for (let n: AnyStateNode | undefined = node; n; n = n.parent) chain.unshift(n);
  return chain;
}

interface Edge {
  from: string;
  to: string;
  label: string;
}

/**
 * Mermaid cannot draw an edge between states nested in different composites, so an edge is
 * drawn in the innermost state holding both ends, between the children of it that contain them
 * (`running` of one phase to the next phase becomes phase → phase).
 */
function placeEdge(source: AnyStateNode, target: AnyStateNode, label: string, edges: Map<AnyStateNode, Edge[]>): void {
  const up = lineage(source);
  const down = lineage(target);
  let common = 0;
  while (common < up.length && common < down.length && up[common] === down[common]) common += 1;
  // When one end contains the other (or they are one state), it is a loop on the outer one.
  const nested = common === up.length || common === down.length;
  const depth = nested ? Math.min(up.length, down.length) - 1 : common;
  // The root has no box of its own to draw a loop on (this machine has no root transitions).
  if (depth === 0) return;
  const scope = up[depth - 1]!;
  const from = up[depth]!;
  const to = down[depth]!;
  const list = edges.get(scope) ?? [];
  const edge = { from: mermaidId(from), to: mermaidId(to), label };
  if (!list.some((e) => e.from === edge.from && e.to === edge.to && e.label === edge.label)) list.push(edge);
  edges.set(scope, list);
}

function transitionsOf(node: AnyStateNode): AnyTransitionDefinition[][] {
  return [...node.transitions.values(), ...(node.always ? [node.always] : [])];
}

function collectEdges(node: AnyStateNode, edges: Map<AnyStateNode, Edge[]>): void {
  for (const group of transitionsOf(node)) {
    group.forEach((transition, i) => {
      const guard = guardName(transition.guard);
      const otherwise = guard === null && i > 0 && group.slice(0, i).some((t) => t.guard !== undefined);
      const label = `${eventLabel(transition.eventType)}${guard ? ` [${guard}]` : otherwise ? ' [else]' : ''}`;
      for (const target of transition.target ?? []) placeEdge(node, target, label, edges);
    });
  }
  for (const child of Object.values(node.states)) collectEdges(child, edges);
}

function renderNode(node: AnyStateNode, edges: Map<AnyStateNode, Edge[]>, indent: string, lines: string[]): void {
  const id = mermaidId(node);
  const children = Object.values(node.states);
  if (id !== node.key) lines.push(`${indent}state "${node.key}" as ${id}`);
  else if (children.length === 0) lines.push(`${indent}${id}`);
  for (const invoke of node.invoke) lines.push(`${indent}${id} : invokes ${invoke.id}`);
  if (children.length === 0) return;
  lines.push(`${indent}state ${id} {`);
  renderBody(node, edges, `${indent}  `, lines);
  lines.push(`${indent}}`);
}

function renderBody(node: AnyStateNode, edges: Map<AnyStateNode, Edge[]>, indent: string, lines: string[]): void {
  for (const initial of node.initial?.target ?? []) lines.push(`${indent}[*] --> ${mermaidId(initial)}`);
  for (const child of Object.values(node.states)) renderNode(child, edges, indent, lines);
  for (const edge of edges.get(node) ?? []) lines.push(`${indent}${edge.from} --> ${edge.to} : ${edge.label}`);
  for (const child of Object.values(node.states)) if (child.type === 'final') lines.push(`${indent}${mermaidId(child)} --> [*]`);
}

/** The whole statechart as Mermaid `stateDiagram-v2` text, edges labelled with their events and guards. */
export function mermaidDiagram(machine: AnyStateMachine = workflowMachine): string {
  const edges = new Map<AnyStateNode, Edge[]>();
  collectEdges(machine.root, edges);
  const lines = ['stateDiagram-v2'];
  renderBody(machine.root, edges, '  ', lines);
  return `${lines.join('\n')}\n`;
}
