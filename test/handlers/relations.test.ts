import { describe, expect, it } from 'vitest';
import { normaliseRelationType } from '../../src/handlers/relations.ts';
import { toCsv } from '../fixtures/generate.ts';
import { file, runPipeline } from './run-pipeline.ts';

const HOSTS = toCsv([['Name', 'Typ', 'IP'], ['web1', 'Webserver', '10.0.0.1'], ['app1', 'Server', '10.0.0.2'], ['db1', 'Datenbank', '10.0.0.3'], ['esx1', 'Hypervisor', '10.0.0.4']]);

describe('relation tables found by content', () => {
  it('makes typed edges of a table whose two columns name records of another table and whose third has few values', async () => {
    const links = toCsv([['A', 'B', 'Kind'], ['web1', 'app1', 'uses'], ['app1', 'db1', 'uses'], ['web1', 'esx1', 'runs on'], ['app1', 'esx1', 'runs on']]);
    const { analysis, mapping, classes, dependencies } = await runPipeline([file('hosts.csv', HOSTS), file('links.csv', links)]);
    const relation = analysis.tables.find((table) => table.table === 'links.csv');
    expect(relation).toMatchObject({ role: 'relations', relation: { parent: 'A', child: 'B', type: 'Kind', references: [{ column: 'A', table: 'hosts.csv', keyColumn: 'Name', share: 1 }, { column: 'B', table: 'hosts.csv', keyColumn: 'Name', share: 1 }] } });
    expect(mapping.mappings.filter((entry) => entry.file === 'links.csv').map((entry) => `${entry.source}→${entry.target}/${entry.decidedBy}`)).toEqual(['A→rel_parent/content', 'B→rel_child/content', 'Kind→rel_type/content']);
    expect(classes.summary.assets).toBe(4);
    expect(dependencies.edges.map((edge) => `${edge.source_key} ${edge.type} ${edge.target_key}`)).toEqual(['web1 depends_on app1', 'app1 depends_on db1', 'web1 runs_on esx1', 'app1 runs_on esx1']);
  });

  it('leaves a table with a name of its own as assets even when two of its columns point elsewhere', async () => {
    const vms = toCsv([['vm', 'host', 'peer', 'os'], ['vm-a1', 'web1', 'app1', 'Linux'], ['vm-b2', 'app1', 'db1', 'Linux'], ['vm-c3', 'db1', 'web1', 'Windows']]);
    const { analysis } = await runPipeline([file('hosts.csv', HOSTS), file('vms.csv', vms)]);
    expect(analysis.tables.find((table) => table.table === 'vms.csv')?.role).toBe('assets');
  });

  it('needs a type column when the headers say nothing', async () => {
    const pairs = toCsv([['A', 'B'], ['web1', 'app1'], ['app1', 'db1']]);
    const { analysis } = await runPipeline([file('hosts.csv', HOSTS), file('pairs.csv', pairs)]);
    expect(analysis.tables.find((table) => table.table === 'pairs.csv')?.role).toBe('assets');
  });

  it('makes the column relations point at the key of its table', async () => {
    const cis = toCsv([['sys_id', 'u_key', 'name'], ['a1', 'K-1', 'web1'], ['a2', 'K-2', 'db1']]);
    const rels = toCsv([['parent_u_key', 'child_u_key', 'type'], ['K-1', 'K-2', 'Depends on::Used by']]);
    const { analysis, mapping, dependencies } = await runPipeline([file('cmdb_ci.csv', cis), file('cmdb_rel_ci.csv', rels)]);
    expect(analysis.tables.find((table) => table.table === 'cmdb_ci.csv')?.keyColumns).toEqual(['u_key']);
    expect(mapping.mappings.find((entry) => entry.source === 'u_key')).toMatchObject({ target: 'source_key', decidedBy: 'content' });
    expect(dependencies.edges.map((edge) => `${edge.source_key} ${edge.type} ${edge.target_key}`)).toEqual(['k-1 depends_on k-2']);
    expect(dependencies.summary.unresolvedEndpoints).toBe(0);
  });
});

describe('normaliseRelationType', () => {
  it('reads ServiceNow pairs from the parent side, ArchiMate types and other languages', () => {
    expect(normaliseRelationType('Provided by::Provides')).toEqual({ type: 'provided_by', reverse: false });
    expect(normaliseRelationType('Used by::Depends on')).toEqual({ type: 'depends_on', reverse: true });
    expect(normaliseRelationType('ServingRelationship')).toEqual({ type: 'serving', reverse: false });
    expect(normaliseRelationType('dependsOn')).toEqual({ type: 'depends_on', reverse: false });
    expect(normaliseRelationType('läuft auf')).toEqual({ type: 'runs_on', reverse: false });
    expect(normaliseRelationType('se ejecuta en')).toEqual({ type: 'runs_on', reverse: false });
    expect(normaliseRelationType(null)).toEqual({ type: 'related_to', reverse: false });
  });
});
