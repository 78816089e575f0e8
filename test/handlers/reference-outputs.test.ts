// The handlers were made faster without changing what they return (issue 6). These checks pin their
// results to those of the code before that work: a SHA-256 of the JSON of the whole pipeline result
// for generated exports, plus the corner cases the faster data structures had to get right.
// If a fixture generator in test/fixtures changes on purpose, recompute the digests with the same
// pipeline and review the difference before updating them.
// Issue 13 added evidence to the analysis (value kinds, relation columns) and to every mapping
// (decidedBy, evidence), so the whole-result digests were recomputed; the inventory digests below
// (roles, quarantine, mapping targets, assets with their classification, edges, nodes, summary)
// are still those of the code before issue 13: on these exports the inventory did not change.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { countCycles } from '../../src/handlers/analyse-dependencies.ts';
import type { DependencyEdge, InputFile } from '../../src/handlers/types.ts';
import { FirstSeen } from '../../src/handlers/values.ts';
import { azureDependencyCsv, cmfIntakeCsv, generateLargeExport, messySpreadsheetXlsx, netboxFixtureJson, rvtoolsVinfoCsv, serviceNowCiCsv, serviceNowRelCsv } from '../fixtures/generate.ts';
import { file, runPipeline } from './run-pipeline.ts';

async function digest(files: InputFile[]): Promise<string> {
  const result = await runPipeline(files);
  return createHash('sha256').update(JSON.stringify(result)).digest('hex');
}

/** What lands in the inventory, without the evidence fields. */
async function inventoryDigest(files: InputFile[]): Promise<string> {
  const { analysis, validation, mapping, classes, dependencies } = await runPipeline(files);
  const inventory = {
    roles: analysis.tables.map((table) => [table.table, table.role, table.source]),
    quarantine: validation.quarantine.map((record) => [record.table, record.row, record.findings.map((finding) => finding.code)]),
    tables: validation.tables,
    mappings: mapping.mappings.map((entry) => [entry.file, entry.source, entry.target]),
    assets: classes.assets,
    edges: dependencies.edges,
    nodes: dependencies.nodes,
    summary: dependencies.summary,
  };
  return createHash('sha256').update(JSON.stringify(inventory)).digest('hex');
}

describe('pipeline results match the reference computed before the speed-up', () => {
  it('on a generated 20k-row ServiceNow export', async () => {
    const files = [file('large.csv', generateLargeExport(20_000))];
    expect(await digest(files)).toBe('81ba88fd6aaa4c461b10ca402c6422276010949e1059c63f8c1d2f815d86356f');
    expect(await inventoryDigest(files)).toBe('0e39b2be701f5dcbb4f182d1ab5b79dd1434b98a5b6129d50cb707175bce7fc9');
  });

  it('on ServiceNow CIs with their relations', async () => {
    const sn = serviceNowCiCsv({ rows: 3000, seed: 7 });
    const files = [file('cmdb_ci.csv', sn.csv), file('cmdb_rel_ci.csv', serviceNowRelCsv(sn.cis, { seed: 3, unknownEndpoints: 20 }))];
    expect(await digest(files)).toBe('bebca79d2d3b50558860346754983cf15283690b814f3b182f7bc7c39e747613');
    expect(await inventoryDigest(files)).toBe('69cc8835de2b20febb16ab503fa9230f4247d8f8700551f5a9ce7b9283b4756e');
  });

  it('on an Azure Migrate dependency export', async () => {
    const files = [file('deps.csv', azureDependencyCsv({ rows: 3000, seed: 5 }))];
    expect(await digest(files)).toBe('8660d850f4eda0b03ba3c8638ee86be2d41895439e25ab6bd54d2a2e9202c384');
    expect(await inventoryDigest(files)).toBe('8d6bdfccd411b3c1e4e263a05162f62b5256e7992ac0fb785e6eb8b20f5c4b62');
  });

  it('on CMF intake, RVTools, NetBox and a messy workbook together', async () => {
    const files = [
      file('cmf.csv', cmfIntakeCsv()),
      file('RVTools_vInfo.csv', rvtoolsVinfoCsv({ rows: 2000, seed: 9 })),
      file('netbox.json', netboxFixtureJson()),
      file('messy.xlsx', await messySpreadsheetXlsx()),
    ];
    expect(await digest(files)).toBe('8a9fcd2d0b615d2f55b6793c232f2f23a5271b78b7937b09692dd90d21582863');
    expect(await inventoryDigest(files)).toBe('4847c959cb1f752c66ea9cd0e4924deb92af82b5858a018b5f04092212c72d5e');
  });
});

describe('edge keys with "|" in node keys', () => {
  const flowEdges = (edges: DependencyEdge[]) => edges.filter((edge) => edge.origin === 'flow').map((edge) => `${edge.edge_key}×${edge.count}`);

  it('merge observations whose edge_key strings coincide, as string keys always did', async () => {
    const result = await runPipeline([
      file('hosts.csv', 'hostname,ip_address\np|q,10.0.0.1\nr,10.0.0.2\np,10.0.0.3\nq|r,10.0.0.4\n'),
      file('flows.csv', 'source_host,destination_host,destination_port\np|q,r,443\np,q|r,443\np,r,443\np,r,443\n'),
    ]);
    expect(flowEdges(result.dependencies.edges)).toEqual(['flow|p|q|r|network_flow|443×2', 'flow|p|r|network_flow|443×2']);
  });

  it('keep counting edges seen before the first such key appeared', async () => {
    const result = await runPipeline([file('flows.csv', 'source_host,destination_host,destination_port\na,b,80\nx|y,z,80\nx,y|z,80\na,b,80\nx,y|z,80\n')]);
    expect(flowEdges(result.dependencies.edges)).toEqual([
      'flow|external:a|external:b|network_flow|80×2',
      'flow|external:x|y|external:z|network_flow|80×1',
      'flow|external:x|external:y|z|network_flow|80×2',
    ]);
  });
});

describe('countCycles', () => {
  const edge = (source_key: string, target_key: string) => ({ source_key, target_key }) as DependencyEdge;

  it('counts strongly connected components of two or more nodes reachable from the given nodes', () => {
    const edges = [edge('a', 'b'), edge('b', 'a'), edge('b', 'c'), edge('c', 'd'), edge('d', 'e'), edge('e', 'c'), edge('x', 'y'), edge('y', 'x')];
    expect(countCycles(['a', 'b', 'c', 'd', 'e'], edges)).toBe(2);
    // x and y are reachable from no given node.
    expect(countCycles(['a'], edges)).toBe(2);
    expect(countCycles(['x', 'a'], edges)).toBe(3);
    expect(countCycles([], edges)).toBe(0);
  });
});

describe('FirstSeen', () => {
  it('returns the first value of a repeated key, before and after the first repeat', () => {
    const seen = new FirstSeen<number>();
    expect(seen.claim('a', 1)).toBeUndefined();
    expect(seen.claim('b', 2)).toBeUndefined();
    expect(seen.claim('a', 3)).toBe(1);
    expect(seen.claim('a', 4)).toBe(1);
    expect(seen.claim('b', 5)).toBe(2);
    expect(seen.claim('c', 6)).toBeUndefined();
    expect(seen.claim('c', 7)).toBe(6);
  });
});
