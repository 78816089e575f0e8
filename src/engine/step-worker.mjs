// The worker threads' entry. Threads do not inherit the loader that runs the service's TypeScript
// (tsx under npm start, vite under vitest), so each registers tsx before importing the worker.
import { register } from 'tsx/esm/api';

register();

export const { runStepTask } = await import('./step-worker.ts');
