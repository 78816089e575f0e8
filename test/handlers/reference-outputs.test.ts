// The handlers were made faster without changing what they return (issue 6). These checks pin their
// results to those of the code before that work: a SHA-256 of the JSON of the whole pipeline result
// for generated exports, plus the corner cases the faster data structures had to get right.
// If a fixture generator in test/fixtures changes on purpose, recompute the digests with the same
// pipeline and review the difference before updating them.
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

describe('pipeline results match the reference computed before the speed-up', () => {
  it('on a generated 20k-row ServiceNow export', async () => {
    expect(await digest([file('large.csv', generateLargeExport(20_000))])).toBe('aea57fa233ee7d47f7e4dce8d02059c56ebc7700af54d3b75a48d6a095faa344');
  });

  it('on ServiceNow CIs with their relations', async () => {
    const sn = serviceNowCiCsv({ rows: 3000, seed: 7 });
    const files = [file('cmdb_ci.csv', sn.csv), file('cmdb_rel_ci.csv', serviceNowRelCsv(sn.cis, { seed: 3, unknownEndpoints: 20 }))];
    expect(await digest(files)).toBe('629a8d72f179dc3bf9ca0b7b4b7c6c1a84c2dccf736c1a1d5f01e2001d798e76');
  });

  it('on an Azure Migrate dependency export', async () => {
    expect(await digest([file('deps.csv', azureDependencyCsv({ rows: 3000, seed: 5 }))])).toBe('38e2b0d69c0e16cf8972210db00532e85cd3091072c96f373156e61755ad31c2');
  });

  it('on CMF intake, RVTools, NetBox and a messy workbook together', async () => {
    const files = [
      file('cmf.csv', cmfIntakeCsv()),
      file('RVTools_vInfo.csv', rvtoolsVinfoCsv({ rows: 2000, seed: 9 })),
      file('netbox.json', netboxFixtureJson()),
      file('messy.xlsx', await messySpreadsheetXlsx()),
    ];
    expect(await digest(files)).toBe('11dac3c4ff2c174439e62ed6e53aa5286a686deaa3860dc34e0040fda8611f6e');
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
