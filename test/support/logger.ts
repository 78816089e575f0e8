import { pino } from 'pino';
import type { Logger } from '../../src/engine/logger.ts';

/** A real logger that prints nothing unless TEST_LOG_LEVEL asks for it. */
export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}
