// Runs the six handlers in workflow order, as the engine's step adapters do.
import { analyseDependencies, analyseSource, classifyAssets, mapFields, parseInputs, validateRecords } from '../../src/handlers/index.ts';
import type { ClassificationOutput, DependencyOutput, InputFile, MappingOutput, MappingOverrides, SourceAnalysis, Table, ValidationOutput } from '../../src/handlers/types.ts';
import { utf8 } from '../fixtures/generate.ts';

export interface PipelineResult {
  tables: Table[];
  analysis: SourceAnalysis;
  validation: ValidationOutput;
  mapping: MappingOutput;
  classes: ClassificationOutput;
  dependencies: DependencyOutput;
}

export function file(name: string, content: string | Uint8Array): InputFile {
  return { name, content: typeof content === 'string' ? utf8(content) : content };
}

export async function runPipeline(files: InputFile[], overrides?: MappingOverrides): Promise<PipelineResult> {
  const tables = await parseInputs(files);
  const analysis = analyseSource(tables);
  const validation = validateRecords(tables, analysis);
  const mapping = mapFields(tables, analysis, overrides);
  const classes = classifyAssets(tables, analysis, mapping.mappings, validation.quarantine);
  const dependencies = analyseDependencies(tables, analysis, mapping.mappings, classes.assets);
  return { tables, analysis, validation, mapping, classes, dependencies };
}

/** Awaits a rejection and returns the error so tests can check its code and message. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string; hint?: string };
  }
  throw new Error('expected the promise to reject');
}
