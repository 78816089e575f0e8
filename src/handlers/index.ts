// The six discovery steps as pure functions: data in, result out. No xstate, no database.
export { parseInputs } from './parse-inputs.ts';
export { analyseSource } from './analyse-source.ts';
export { validateRecords } from './validate-records.ts';
export { mapFields } from './map-fields.ts';
export { classifyAssets } from './classify-assets.ts';
export { analyseDependencies } from './analyse-dependencies.ts';
